"""One registry for every environment: ``make_env(name, **kwargs)``.

Names are gymnax's own (``CartPole-v1``, ``Breakout-MinAtar``, ``Catch-bsuite``,
``FourRooms-misc``, ...), ``brax/<name>`` for brax (``brax/ant``, ...) and
``GridWorld`` for the LPG / GROOVE gridworld levels (``level=<named level>``).
Lookup is case-insensitive; an unknown name raises a ``ValueError`` listing
close matches.
"""

from __future__ import annotations

from typing import Any

from metalearn.envs.core import BraxEnv, GymnaxEnv, LevelFamily
from metalearn.envs.gridworld import GridWorldLevels, make_gridworld
from metalearn.envs.wrappers import ClipAction, LogWrapper, NormalizeObservation, NormalizeReward, VecEnv
from metalearn.validation import did_you_mean

# gymnax 1.0.1's registry, by family. Kept literal (not read from gymnax at import) so
# that listing names is instant and a gymnax upgrade that renames one shows up in tests.
GYMNAX_ENVS: tuple[str, ...] = (
    # classic control
    "CartPole-v1",
    "Pendulum-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "MountainCarContinuous-v0",
    # MinAtar
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
    # bsuite (MNISTBandit downloads MNIST on first use)
    "Catch-bsuite",
    "DeepSea-bsuite",
    "MemoryChain-bsuite",
    "UmbrellaChain-bsuite",
    "DiscountingChain-bsuite",
    "MNISTBandit-bsuite",
    "SimpleBandit-bsuite",
    # misc
    "FourRooms-misc",
    "MetaMaze-misc",
    "PointRobot-misc",
    "BernoulliBandit-misc",
    "GaussianBandit-misc",
    "Reacher-misc",
    "Swimmer-misc",
    "Pong-misc",
    "FrozenLake-misc",
)

BRAX_ENVS: tuple[str, ...] = tuple(
    f"brax/{n}"
    for n in (
        "ant",
        "halfcheetah",
        "hopper",
        "humanoid",
        "humanoidstandup",
        "inverted_pendulum",
        "inverted_double_pendulum",
        "pusher",
        "reacher",
        "swimmer",
        "walker2d",
    )
)

# Our own environments (level-parameterised; see metalearn.envs.gridworld).
GRID_ENVS: tuple[str, ...] = ("GridWorld",)

# The level families of level-parameterised envs (what a curriculum draws levels from), by canonical name.
LEVEL_FAMILIES: dict[str, type] = {"GridWorld": GridWorldLevels}

BRAX_BACKENDS: tuple[str, ...] = ("spring", "positional", "generalized", "mjx")
# "spring" is the fastest backend on CPU; swimmer is only implemented for "generalized".
_BRAX_DEFAULT_BACKEND = {"brax/swimmer": "generalized"}


def list_envs() -> list[str]:
    """All registered environment names."""
    return [*GYMNAX_ENVS, *BRAX_ENVS, *GRID_ENVS]


def resolve_env_name(name: str) -> str:
    """Canonical spelling of ``name``; ``ValueError`` with close matches if unknown."""
    names = list_envs()
    by_lower = {n.lower(): n for n in names}
    if isinstance(name, str) and name.lower() in by_lower:
        return by_lower[name.lower()]
    hint = did_you_mean(name, names, n=5, key=str.lower)
    raise ValueError(
        f"unknown environment {name!r}; {hint}"
        f"known: {len(names)} names, see `metalearn list` or metalearn.envs.list_envs()"
    )


def level_family(env_name: str, distribution: Any) -> LevelFamily:
    """The :class:`~metalearn.envs.core.LevelFamily` of env ``env_name`` with levels from ``distribution``.

    ``ValueError`` for an env whose levels are not parameters (nothing to draw).
    """
    canonical = resolve_env_name(env_name)
    if canonical not in LEVEL_FAMILIES:
        allowed = " | ".join(LEVEL_FAMILIES)
        raise ValueError(
            f"env {env_name!r} has no level family; a curriculum needs a {allowed} task (e.g. preset gridworld-lpg)"
        )
    return LEVEL_FAMILIES[canonical](distribution)


def make_env(name: str, **kwargs: Any):
    """A single, unwrapped environment (flattened float32 observations).

    Args:
      name: a name from :func:`list_envs` (case-insensitive).
      **kwargs: for gymnax, passed to ``gymnax.make``; for brax, ``backend``
        (one of ``BRAX_BACKENDS``; default ``"spring"``, the fastest on CPU,
        or ``"generalized"`` for swimmer, the only one it supports),
        ``episode_length`` (default 1000) and the brax env's own arguments;
        for ``GridWorld``, :func:`metalearn.envs.gridworld.make_gridworld`'s
        (``level`` a named level, default ``"dense"``, or a ``Level``; padded
        ``max_height`` / ``max_width`` / ``max_objects``; ``observation``).
    """
    canonical = resolve_env_name(name)
    try:
        if canonical == "GridWorld":
            return make_gridworld(**kwargs)
        if canonical.startswith("brax/"):
            kwargs.setdefault("backend", _BRAX_DEFAULT_BACKEND.get(canonical, "spring"))
            if kwargs["backend"] not in BRAX_BACKENDS:
                raise ValueError(f"unknown brax backend {kwargs['backend']!r}; allowed: {', '.join(BRAX_BACKENDS)}")
            return BraxEnv(canonical.removeprefix("brax/"), **kwargs)
        return GymnaxEnv(canonical, **kwargs)
    except TypeError as err:
        if "keyword argument" not in str(err):
            raise
        raise ValueError(f"environment {canonical!r}: env_kwargs {sorted(kwargs)} not accepted ({err})") from None


def wrap_for_training(
    env: Any,
    *,
    clip_action: bool = True,
    normalize_obs: bool = False,
    normalize_reward: bool = False,
    gamma: float = 0.99,
    update_obs_stats: bool = True,
):
    """Composes the wrappers a PPO needs, innermost first:

    ``ClipAction`` (continuous only) → ``LogWrapper`` → ``VecEnv`` →
    ``NormalizeObservation`` → ``NormalizeReward``. Logging sits inside the
    normalisers so logged returns are the environment's own.
    """
    if clip_action and not env.spec.discrete:
        env = ClipAction(env)
    env = VecEnv(LogWrapper(env))
    if normalize_obs:
        env = NormalizeObservation(env, update_stats=update_obs_stats)
    if normalize_reward:
        env = NormalizeReward(env, gamma)
    return env
