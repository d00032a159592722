"""The LPG / GROOVE gridworld family: one environment, many levels.

A *level* (:class:`Level`) is the environment's params pytree: grid size, walls,
objects (position, reward, end-episode and respawn probabilities), where the
agent starts, the episode limit and the agent ``lifetime`` (number of agent
updates an agent trained on this level gets, as in LPG and GROOVE). Every array
is padded to the env's static maximum grid size and object count, so a batch of
levels is one pytree with a leading axis and ``jax.vmap`` runs a trainer over
it (``train(meta_params, rng, level)``).

Dynamics (Oh et al. 2020, as GROOVE's ``gridworld.py``), per step:

1. the agent moves (0 up, 1 down, 2 left, 3 right, 4 stay); a move into a wall
   or off the grid leaves it in place;
2. every present object at the agent's new cell is collected: its reward is
   paid and it disappears; with its end-episode probability the episode ends
   (``terminated``);
3. every absent object that was not collected this step respawns with its
   respawn probability — at its own cell, or at a random free cell when the
   level's ``random_respawn`` is set (LPG's ``rand_*`` levels);
4. after ``max_steps`` steps the episode is ``truncated``.

Episodes auto-reset inside ``step``. Observations (flat float32, last entry
the episode's elapsed fraction ``time / max_steps``):

* ``"tabular"`` (LPG's tabular grids): a one-hot over (agent cell, set of
  present objects), ``max_height * max_width * 2**max_objects`` entries;
* ``"grid"`` (LPG's random grids): agent one-hot plus one presence map per
  object, ``max_height * max_width * (1 + max_objects)`` entries. Use it with
  ``random_respawn`` levels, whose object cells the tabular view cannot see.

:func:`random_level` samples a level from a :class:`LevelDistribution` (as
GROOVE's level generator); :func:`named_level` gives hand-designed levels for
held-out evaluation (the LPG paper's grids and two MiniMax mazes).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from metalearn.envs.core import EnvSpec
from metalearn.validation import field_error, invalid

OBSERVATIONS = ("tabular", "grid")
NUM_ACTIONS = 5
# (d_row, d_col) for up, down, left, right, stay.
_MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]], np.int32)


@struct.dataclass
class Level:
    """One gridworld level; every array padded to the env's static maxima.

    Attributes (H, W = max height and width, K = max objects):
      height, width: () int32, the grid in use is rows < height, cols < width.
      walls: (H, W) bool, True where a wall is (cells outside the grid are
        blocked whatever this says).
      start_mask: (H, W) bool, the agent starts uniformly among these cells
        (one cell = a fixed start).
      obj_pos: (K, 2) int32 (row, col) of each object at reset (ignored when
        ``random_respawn``: objects are then placed at random free cells).
      obj_reward, obj_p_end, obj_p_respawn: (K,) float32, reward on collection,
        probability that collecting it ends the episode, per-step probability
        that it reappears once collected.
      obj_active: (K,) bool, which of the K slots the level uses.
      random_respawn: () bool, objects (re)appear at random free cells.
      max_steps: () int32, the episode limit.
      lifetime: () int32, agent updates an agent trained on this level gets.
    """

    height: jax.Array
    width: jax.Array
    walls: jax.Array
    start_mask: jax.Array
    obj_pos: jax.Array
    obj_reward: jax.Array
    obj_p_end: jax.Array
    obj_p_respawn: jax.Array
    obj_active: jax.Array
    random_respawn: jax.Array
    max_steps: jax.Array
    lifetime: jax.Array

    @property
    def dims(self) -> tuple[int, int, int]:
        """Static padded (max_height, max_width, max_objects)."""
        return (*self.walls.shape[-2:], self.obj_pos.shape[-2])


@struct.dataclass
class GridState:
    pos: jax.Array  # (2,) int32 agent (row, col)
    obj_pos: jax.Array  # (K, 2) int32
    obj_present: jax.Array  # (K,) bool
    time: jax.Array  # () int32 steps taken in this episode


def pad_level(level: Level, max_height: int, max_width: int, max_objects: int) -> Level:
    """``level`` padded to larger maxima (so it can join a batch of bigger levels)."""
    h, w, k = level.dims
    if max_height < h or max_width < w or max_objects < k:
        raise ValueError(
            f"cannot pad a level of padded size {h}x{w} with {k} objects to {max_height}x{max_width} "
            f"with {max_objects} objects; the maxima must be at least the level's"
        )
    grid = lambda x: jnp.pad(x, ((0, max_height - h), (0, max_width - w)))
    objs = lambda x: jnp.pad(x, [(0, max_objects - k)] + [(0, 0)] * (x.ndim - 1))
    return level.replace(
        walls=grid(level.walls),
        start_mask=grid(level.start_mask),
        obj_pos=objs(level.obj_pos),
        obj_reward=objs(level.obj_reward),
        obj_p_end=objs(level.obj_p_end),
        obj_p_respawn=objs(level.obj_p_respawn),
        obj_active=objs(level.obj_active),
    )


def _inside(height: jax.Array, width: jax.Array, h: int, w: int) -> jax.Array:
    """(h, w) bool, cells of the grid in use (rows < height, cols < width)."""
    return (jnp.arange(h)[:, None] < height) & (jnp.arange(w)[None, :] < width)


def _random_cells(key: jax.Array, allowed: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """``k`` distinct cells drawn uniformly from ``allowed`` (H, W) bool (Gumbel top-k).

    Returns (k, 2) int32 (row, col) and (k,) bool, False where fewer than ``k``
    cells were allowed.
    """
    _h, w = allowed.shape
    flat = allowed.reshape(-1)
    noise = jax.random.gumbel(key, flat.shape)
    _, idx = jax.lax.top_k(jnp.where(flat, noise, -jnp.inf), k)
    cells = jnp.stack([idx // w, idx % w], axis=-1).astype(jnp.int32)
    return cells, flat[idx]


class GridWorld:
    """The gridworld env (see the module docstring); the level is ``params``.

    Args:
      max_height, max_width, max_objects: static padded sizes every level given
        to this env must have (see :func:`pad_level`).
      observation: ``"tabular"`` or ``"grid"``.
      default_level: ``default_params``; a random level from the ``"all"``
        distribution reshaped to these sizes when None.
      max_episode_steps: ``spec.max_episode_steps`` (used for evaluation
        horizons); the default level's ``max_steps`` when None. Each level's
        own ``max_steps`` is what ends its episodes.
      name: ``spec.name``.
    """

    def __init__(
        self,
        max_height: int = 11,
        max_width: int = 11,
        max_objects: int = 4,
        observation: str = "tabular",
        default_level: Level | None = None,
        max_episode_steps: int | None = None,
        name: str = "GridWorld",
    ):
        for field, value in (("max_height", max_height), ("max_width", max_width), ("max_objects", max_objects)):
            if not isinstance(value, int) or value < 1:
                raise invalid(f"GridWorld {field}", value, "an integer >= 1")
        if max_objects >= max_height * max_width:
            raise invalid(
                "GridWorld max_objects",
                max_objects,
                f"fewer than the {max_height * max_width} cells of a {max_height}x{max_width} grid",
            )
        if observation not in OBSERVATIONS:
            raise invalid("GridWorld observation", observation, " | ".join(OBSERVATIONS))
        self.max_height, self.max_width, self.max_objects = max_height, max_width, max_objects
        self.observation = observation
        if default_level is None:
            dist = dataclasses.replace(
                LEVEL_DISTRIBUTIONS["all"],
                max_height=max_height,
                max_width=max_width,
                max_objects=max_objects,
                min_size=min(4, max_height, max_width),
                max_size=min(max_height, max_width),
                min_objects=1,
                num_walls=max(0, min(15, min(max_height, max_width) ** 2 - 1 - max_objects)),
            )
            default_level = random_level(jax.random.PRNGKey(0), dist)
        self._check_level(default_level)
        self.default_params = default_level
        cells = max_height * max_width
        obs_dim = cells * 2**max_objects if observation == "tabular" else cells * (1 + max_objects)
        self.spec = EnvSpec(
            name=name,
            obs_dim=obs_dim + 1,
            discrete=True,
            action_dim=NUM_ACTIONS,
            max_episode_steps=int(default_level.max_steps) if max_episode_steps is None else int(max_episode_steps),
        )

    def _check_level(self, level: Level) -> None:
        dims = (self.max_height, self.max_width, self.max_objects)
        if level.dims != dims:
            raise ValueError(
                f"level has padded size {level.dims[0]}x{level.dims[1]} with {level.dims[2]} objects; this "
                f"GridWorld needs {dims[0]}x{dims[1]} with {dims[2]} (use pad_level or a matching GridWorld)"
            )

    # ------------------------------------------------------------- protocol
    def reset(self, key: jax.Array, params: Level) -> tuple[jax.Array, GridState]:
        self._check_level(params)
        k_start, k_obj = jax.random.split(key)
        h, w = self.max_height, self.max_width
        start_logits = jnp.where(params.start_mask.reshape(-1), 0.0, -jnp.inf)
        idx = jax.random.categorical(k_start, start_logits)
        pos = jnp.stack([idx // w, idx % w]).astype(jnp.int32)
        free = _inside(params.height, params.width, h, w) & ~params.walls
        free = free.at[pos[0], pos[1]].set(False)
        random_pos, _ = _random_cells(k_obj, free, self.max_objects)
        obj_pos = jnp.where(params.random_respawn, random_pos, params.obj_pos).astype(jnp.int32)
        state = GridState(pos=pos, obj_pos=obj_pos, obj_present=params.obj_active, time=jnp.zeros((), jnp.int32))
        return self._obs(state, params), state

    def step(self, key: jax.Array, state: GridState, action: jax.Array, params: Level):
        self._check_level(params)
        k_end, k_respawn, k_place, k_reset = jax.random.split(key, 4)
        h, w = self.max_height, self.max_width
        inside = _inside(params.height, params.width, h, w)

        target = state.pos + jnp.asarray(_MOVES)[action]
        in_bounds = (target[0] >= 0) & (target[0] < params.height) & (target[1] >= 0) & (target[1] < params.width)
        clipped = jnp.clip(target, 0, jnp.array([h - 1, w - 1]))
        open_cell = in_bounds & ~params.walls[clipped[0], clipped[1]]
        pos = jnp.where(open_cell, target, state.pos).astype(jnp.int32)

        collected = state.obj_present & jnp.all(state.obj_pos == pos, axis=-1)
        reward = jnp.sum(jnp.where(collected, params.obj_reward, 0.0)).astype(jnp.float32)
        ends = collected & (jax.random.uniform(k_end, (self.max_objects,)) < params.obj_p_end)
        terminated = jnp.any(ends)

        # An object collected this step was present, so it cannot respawn before the next step.
        respawn = (
            ~state.obj_present
            & params.obj_active
            & (jax.random.uniform(k_respawn, (self.max_objects,)) < params.obj_p_respawn)
        )
        present = (state.obj_present & ~collected) | respawn
        # Random respawn: new cells avoid walls, the agent and the objects still present.
        occupied = jnp.zeros((h, w), bool).at[state.obj_pos[:, 0], state.obj_pos[:, 1]].max(present & ~respawn)
        free = inside & ~params.walls & ~occupied
        free = free.at[pos[0], pos[1]].set(False)
        new_cells, ok = _random_cells(k_place, free, self.max_objects)
        move = respawn & params.random_respawn
        obj_pos = jnp.where(move[:, None], new_cells, state.obj_pos)
        present = jnp.where(move, present & ok, present)

        time = state.time + 1
        truncated = (time >= params.max_steps) & ~terminated
        next_state = GridState(pos=pos, obj_pos=obj_pos, obj_present=present, time=time)
        obs = self._obs(next_state, params)

        done = terminated | truncated
        obs_reset, state_reset = self.reset(k_reset, params)
        next_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), state_reset, next_state)
        obs = jnp.where(done, obs_reset, obs)
        return obs, next_state, reward, terminated, truncated, {}

    def _obs(self, state: GridState, params: Level) -> jax.Array:
        h, w, k = self.max_height, self.max_width, self.max_objects
        cell = state.pos[0] * w + state.pos[1]
        if self.observation == "tabular":
            present_set = jnp.sum(state.obj_present.astype(jnp.int32) * (2 ** jnp.arange(k)))
            body = jax.nn.one_hot(cell + h * w * present_set, h * w * 2**k, dtype=jnp.float32)
        else:
            agent = jax.nn.one_hot(cell, h * w, dtype=jnp.float32)
            obj_cells = state.obj_pos[:, 0] * w + state.obj_pos[:, 1]
            objs = jax.nn.one_hot(obj_cells, h * w, dtype=jnp.float32) * state.obj_present[:, None]
            body = jnp.concatenate([agent, objs.reshape(-1)])
        elapsed = state.time.astype(jnp.float32) / jnp.maximum(params.max_steps, 1).astype(jnp.float32)
        return jnp.concatenate([body, elapsed[None]])


# ------------------------------------------------------------ random levels
@dataclasses.dataclass(frozen=True)
class LevelDistribution:
    """A procedural level family (GROOVE's ``small`` / ``medium`` / ``large`` / ``all``).

    Height and width are drawn from ``[min_size, max_size]`` (equal when
    ``square``, as in the reference); ``num_walls`` distinct cells of the
    ``max_size`` × ``max_size`` box become walls, so smaller grids get fewer;
    the agent's start and then ``[min_objects, max_objects_used]`` objects are
    placed on distinct free cells reachable from the start. Object rewards are
    uniform in ``reward_range`` (the first one made positive, so each level has
    something worth collecting), end and respawn probabilities and
    ``max_steps`` / ``lifetime`` log-uniform in their ranges.
    """

    max_height: int = 10
    max_width: int = 10
    max_objects: int = 5
    min_size: int = 4
    max_size: int = 10
    square: bool = True
    min_objects: int = 1
    max_objects_used: int | None = None  # None: max_objects
    num_walls: int = 15
    reward_range: tuple[float, float] = (-1.0, 1.0)
    p_end_range: tuple[float, float] = (1e-2, 1.0)
    p_respawn_range: tuple[float, float] = (1e-3, 1e-1)
    max_steps_range: tuple[int, int] = (20, 750)
    lifetime_range: tuple[int, int] = (1000, 1000)
    random_respawn: bool = False

    def __post_init__(self) -> None:
        for f in ("max_height", "max_width", "max_objects", "min_size", "min_objects"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise field_error(self, f, "an integer >= 1")
        if not (
            isinstance(self.max_size, int) and self.min_size <= self.max_size <= min(self.max_height, self.max_width)
        ):
            raise field_error(self, "max_size", f"an integer in [min_size={self.min_size}, min(max_height, max_width)]")
        if self.max_objects_used is not None and not (self.min_objects <= self.max_objects_used <= self.max_objects):
            raise field_error(
                self, "max_objects_used", f"None or an integer in [min_objects, max_objects={self.max_objects}]"
            )
        if self.min_objects > self.max_objects:
            raise field_error(self, "min_objects", f"an integer <= max_objects={self.max_objects}")
        if not (isinstance(self.num_walls, int) and 0 <= self.num_walls <= self.max_size**2 - 1 - self.max_objects):
            raise field_error(
                self,
                "num_walls",
                f"an integer in [0, max_size**2 - 1 - max_objects = {self.max_size**2 - 1 - self.max_objects}]",
            )
        for f, lo_min in (
            ("p_end_range", 0.0),
            ("p_respawn_range", 0.0),
            ("max_steps_range", 1),
            ("lifetime_range", 1),
        ):
            lo, hi = getattr(self, f)
            if not (lo_min < lo <= hi) or (f.startswith("p_") and hi > 1):
                bound = "0 < lo <= hi <= 1" if f.startswith("p_") else "1 <= lo <= hi"
                raise field_error(self, f, f"(lo, hi) with {bound}")
        if not self.reward_range[0] <= self.reward_range[1]:
            raise field_error(self, "reward_range", "(lo, hi) with lo <= hi")


LEVEL_DISTRIBUTIONS: dict[str, LevelDistribution] = {
    # GROOVE's configs.py families (its "lifetime" counts agent updates).
    "small": LevelDistribution(
        max_height=6,
        max_width=6,
        max_objects=3,
        min_size=4,
        max_size=6,
        num_walls=7,
        max_steps_range=(20, 100),
        lifetime_range=(250, 250),
    ),
    "medium": LevelDistribution(
        max_height=8,
        max_width=8,
        max_objects=4,
        min_size=6,
        max_size=8,
        min_objects=2,
        num_walls=10,
        max_steps_range=(100, 250),
        lifetime_range=(1000, 1000),
    ),
    "large": LevelDistribution(
        max_height=10,
        max_width=10,
        max_objects=5,
        min_size=8,
        max_size=10,
        min_objects=2,
        num_walls=15,
        max_steps_range=(250, 750),
        lifetime_range=(2500, 2500),
    ),
    "all": LevelDistribution(),
    # GROOVE's `all` levels with short, random and very random lifetimes (TA-LPG's default is `all_vrandlife`).
    "all_shortlife": LevelDistribution(lifetime_range=(250, 250)),
    "all_randlife": LevelDistribution(lifetime_range=(50, 250)),
    "all_vrandlife": LevelDistribution(lifetime_range=(10, 250)),
    # OPEN's gridworld training family (groove's `rand_all`): `all` with objects respawning at random free cells
    # (grid observations), one level per inner training of 1464 updates (3e7 steps of 1024 envs x 20).
    "rand_all": LevelDistribution(random_respawn=True, lifetime_range=(1464, 1464)),
}


def level_distribution(name: str | LevelDistribution) -> LevelDistribution:
    """A :class:`LevelDistribution` by name (``small``, ``medium``, ``large``, ``all``) or as given."""
    if isinstance(name, LevelDistribution):
        return name
    if name not in LEVEL_DISTRIBUTIONS:
        raise ValueError(f"unknown level distribution {name!r}; known: {', '.join(LEVEL_DISTRIBUTIONS)}")
    return LEVEL_DISTRIBUTIONS[name]


def _log_uniform(key: jax.Array, shape: tuple[int, ...], lo: float, hi: float) -> jax.Array:
    return jnp.exp(jax.random.uniform(key, shape, minval=np.log(lo), maxval=np.log(hi)))


def _reachable(start: jax.Array, free: jax.Array) -> jax.Array:
    """(H, W) bool, cells of ``free`` connected to ``start`` (4-neighbourhood flood fill)."""
    h, w = free.shape
    reach = jnp.zeros((h, w), bool).at[start[0], start[1]].set(True)

    def grow(_, r):
        p = jnp.pad(r, 1)
        nbr = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        return r | (nbr & free)

    return jax.lax.fori_loop(0, h * w, grow, reach)


def random_level(key: jax.Array, distribution: str | LevelDistribution = "all") -> Level:
    """A random level from ``distribution`` (a name or a :class:`LevelDistribution`).

    Pure and jittable for a fixed distribution; ``jax.vmap`` over keys gives a
    batch. Unlike GROOVE's generator (which may wall objects off), objects are
    only placed on cells reachable from the start.
    """
    d = level_distribution(distribution)
    h, w, k = d.max_height, d.max_width, d.max_objects
    keys = jax.random.split(key, 12)
    sizes = jnp.arange(d.min_size, d.max_size + 1)
    height = jax.random.choice(keys[0], sizes)
    width = height if d.square else jax.random.choice(keys[1], sizes)
    grid = _inside(height, width, h, w)

    walls = jnp.zeros((h, w), bool)
    if d.num_walls > 0:
        box = _inside(d.max_size, d.max_size, h, w)
        wall_cells, _ = _random_cells(keys[2], box, d.num_walls)
        walls = walls.at[wall_cells[:, 0], wall_cells[:, 1]].set(True) & grid

    free = grid & ~walls
    start, _ = _random_cells(keys[3], free, 1)
    start = start[0]
    reach = _reachable(start, free).at[start[0], start[1]].set(False)
    obj_pos, placed = _random_cells(keys[4], reach, k)
    n_max = d.max_objects if d.max_objects_used is None else d.max_objects_used
    n_objects = jax.random.randint(keys[5], (), d.min_objects, n_max + 1)
    active = placed & (jnp.arange(k) < n_objects)

    lo, hi = d.reward_range
    rewards = jax.random.uniform(keys[6], (k,), minval=lo, maxval=hi)
    rewards = rewards.at[0].set(jax.random.uniform(keys[7], (), minval=max(lo, 0.0), maxval=max(hi, 0.0)))
    p_end = _log_uniform(keys[8], (k,), *d.p_end_range)
    p_respawn = _log_uniform(keys[9], (k,), *d.p_respawn_range)
    max_steps = jnp.round(_log_uniform(keys[10], (), *d.max_steps_range)).astype(jnp.int32)
    lifetime = jnp.round(_log_uniform(keys[11], (), *d.lifetime_range)).astype(jnp.int32)
    zero = lambda x: jnp.where(active, x, 0.0).astype(jnp.float32)
    return Level(
        height=height.astype(jnp.int32),
        width=width.astype(jnp.int32),
        walls=walls,
        start_mask=jnp.zeros((h, w), bool).at[start[0], start[1]].set(True),
        obj_pos=jnp.where(active[:, None], obj_pos, 0).astype(jnp.int32),
        obj_reward=zero(rewards),
        obj_p_end=zero(p_end),
        obj_p_respawn=zero(p_respawn),
        obj_active=active,
        random_respawn=jnp.asarray(d.random_respawn),
        max_steps=max_steps,
        lifetime=lifetime,
    )


class GridWorldLevels:
    """The :class:`~metalearn.envs.core.LevelFamily` of random gridworld levels from ``distribution``."""

    def __init__(self, distribution: str | LevelDistribution = "all"):
        self.distribution = level_distribution(distribution)
        # Any level of the family has its padded shapes; key 0 is the one the env has always been built on.
        self.template = random_level(jax.random.PRNGKey(0), self.distribution)

    @property
    def max_lifetime(self) -> int:
        """The longest lifetime (agent updates) a level of this family can have."""
        return int(self.distribution.lifetime_range[1])

    def random_level(self, key: jax.Array) -> Level:
        return random_level(key, self.distribution)

    def summary(self, levels: Level) -> dict[str, jax.Array]:
        """Means over a batch (leaves (L, ...)): ``grid_size`` (cells), ``objects`` (active), ``walls``."""
        return {
            "grid_size": jnp.mean((levels.height * levels.width).astype(jnp.float32)),
            "objects": jnp.mean(levels.obj_active.sum(-1).astype(jnp.float32)),
            "walls": jnp.mean(levels.walls.sum((-2, -1)).astype(jnp.float32)),
        }


# ------------------------------------------------------------ named levels
@dataclasses.dataclass(frozen=True)
class _NamedLevel:
    """A hand-designed level: ``#`` wall, ``S`` start, ``a``.. objects, ``.`` floor."""

    layout: tuple[str, ...]
    objects: dict[str, tuple[float, float, float]]  # letter -> (reward, p_end, p_respawn)
    max_steps: int
    lifetime: int
    random_respawn: bool = False
    note: str = ""


# LPG's tabular grids (Oh et al. 2020, GROOVE's configs.py). GROOVE draws object
# and start cells at random per level; here they are fixed so the levels are
# reproducible held-out tasks (``dense`` uses GROOVE's default cells).
_TABULAR_LIFETIME = 5 * 500  # GROOVE: agent updates per LPG update x LPG updates
_RANDOM_LIFETIME = 10 * 5 * 500

_GOOD = (1.0, 0.0, 0.05)  # dense/rand_dense object kinds: (reward, p_end, p_respawn)
_BAD_END = (-1.0, 0.5, 0.1)
_BAD_FAST = (-1.0, 0.0, 0.5)
_LONG_GOOD = (1.0, 0.0, 0.01)
_LONG_BAD = (-1.0, 0.5, 1.0)

_OPEN_11 = (
    "S..........",
    "...a.......",
    "...........",
    ".......b...",
    "...........",
    "...........",
    "...........",
    "...........",
    ".......c...",
    "..d........",
    "...........",
)

_NAMED: dict[str, _NamedLevel] = {
    "dense": _NamedLevel(
        _OPEN_11, {"a": _GOOD, "b": _GOOD, "c": _BAD_END, "d": _BAD_FAST}, max_steps=500, lifetime=_TABULAR_LIFETIME
    ),
    "sparse": _NamedLevel(
        (
            ".............",
            ".............",
            "...........a.",
            ".............",
            ".............",
            ".............",
            "S............",
            ".............",
            ".............",
            ".............",
            "...........b.",
            ".............",
            ".............",
        ),
        {"a": (1.0, 1.0, 0.0), "b": (-1.0, 1.0, 0.0)},
        max_steps=50,
        lifetime=_TABULAR_LIFETIME,
    ),
    "long": _NamedLevel(
        (
            "..........a",
            "...........",
            ".......c...",
            "...........",
            "...........",
            "S....d.....",
            "...........",
            "...........",
            "...........",
            "...........",
            "b..........",
        ),
        {"a": _LONG_GOOD, "b": _LONG_GOOD, "c": _LONG_BAD, "d": _LONG_BAD},
        max_steps=1000,
        lifetime=_TABULAR_LIFETIME,
    ),
    "longer": _NamedLevel(
        (
            "....#....",
            ".....c..a",
            "....#....",
            "....#....",
            "S...#.e..",
            "....#....",
            "....#....",
            "...d....b",
            "....#....",
        ),
        {
            "a": (1.0, 0.1, 0.01),
            "b": (1.0, 0.1, 0.01),
            "c": (-1.0, 0.8, 1.0),
            "d": (-1.0, 0.8, 1.0),
            "e": (-1.0, 0.8, 1.0),
        },
        max_steps=2000,
        lifetime=_TABULAR_LIFETIME,
        note="vertical wall with two gaps",
    ),
    "long_dense": _NamedLevel(
        (
            "S..........",
            ".........a.",
            ".....#.....",
            "...d.#.....",
            "##.#####.##",
            ".....#.....",
            ".....#.....",
            "...........",
            ".b...#.....",
            ".....#...c.",
            ".....#.....",
        ),
        {letter: (1.0, 0.0, 0.005) for letter in "abcd"},
        max_steps=2000,
        lifetime=_TABULAR_LIFETIME,
        note="four rooms",
    ),
    # LPG's random grids: objects start and respawn at random free cells.
    "rand_dense": _NamedLevel(
        _OPEN_11,
        {"a": _GOOD, "b": _GOOD, "c": _BAD_END, "d": _BAD_FAST},
        max_steps=500,
        lifetime=_RANDOM_LIFETIME,
        random_respawn=True,
    ),
    "rand_long": _NamedLevel(
        _OPEN_11,
        {"a": _LONG_GOOD, "b": _LONG_GOOD, "c": _LONG_BAD, "d": _LONG_BAD},
        max_steps=1000,
        lifetime=_RANDOM_LIFETIME,
        random_respawn=True,
    ),
    "rand_small": _NamedLevel(
        ("S.....a", "..#....", "......b", "....#..", "c......", "...d...", "......."),
        {"a": _GOOD, "b": _GOOD, "c": _BAD_END, "d": _BAD_END},
        max_steps=500,
        lifetime=_RANDOM_LIFETIME,
        random_respawn=True,
    ),
    "rand_sparse": _NamedLevel(
        ("S......", ".......", "......a", ".......", "..b....", ".......", "....c.."),
        {"a": (1.0, 1.0, 1.0), "b": (-1.0, 1.0, 1.0), "c": (-1.0, 1.0, 1.0)},
        max_steps=50,
        lifetime=_RANDOM_LIFETIME,
        random_respawn=True,
    ),
    "rand_very_dense": _NamedLevel(
        ("S..........",) + ("...........",) * 4 + (".....a.....",) + ("...........",) * 5,
        {"a": (1.0, 0.0, 1.0)},
        max_steps=2000,
        lifetime=_RANDOM_LIFETIME,
        random_respawn=True,
    ),
    # Two MiniMax mazes (as in GROOVE's custom_mazes.py) with one goal that ends the episode.
    "labyrinth": _NamedLevel(
        (
            ".............",
            ".###########.",
            ".#.........#.",
            ".#.#######.#.",
            ".#.#.....#.#.",
            ".#.#.###.#.#.",
            ".#.#.#a#.#.#.",
            ".#.#.#.#.#.#.",
            ".#...#...#.#.",
            ".#########.#.",
            ".....#.....#.",
            "####.#.#####.",
            "S....#.......",
        ),
        {"a": (1.0, 1.0, 0.0)},
        max_steps=250,
        lifetime=_TABULAR_LIFETIME,
        note="goal at the centre",
    ),
    "sixteen_rooms": _NamedLevel(
        (
            "S..#..#..#...",
            ".........#...",
            "...#..#......",
            "#.###.##.###.",
            "...#.........",
            "......#..#...",
            "##.#.##.###.#",
            "...#.....#...",
            "...#..#......",
            ".####.##.#.##",
            "...#..#..#...",
            "......#......",
            "...#.....#..a",
        ),
        {"a": (1.0, 1.0, 0.0)},
        max_steps=100,
        lifetime=_TABULAR_LIFETIME,
        note="goal in the far corner",
    ),
}


def list_levels() -> list[str]:
    """Names accepted by :func:`named_level`."""
    return list(_NAMED)


def _family_level(name: str) -> tuple[str, int]:
    """``FAMILY@SEED`` -> (family, seed), each checked (one-line errors naming what is allowed)."""
    family, _, seed = name.partition("@")
    if family not in LEVEL_DISTRIBUTIONS:
        raise ValueError(
            f"gridworld level {name!r}: unknown level family {family!r}; allowed: FAMILY@SEED with FAMILY one of "
            f"{', '.join(LEVEL_DISTRIBUTIONS)}"
        )
    if not seed.isdigit():
        raise ValueError(
            f"gridworld level {name!r}: seed {seed!r} is invalid; allowed: FAMILY@SEED, SEED an integer >= 0"
        )
    return family, int(seed)


def named_level_info(name: str) -> dict[str, Any]:
    """Static facts about a named level: size, object count, ``random_respawn``, layout."""
    spec = _named_spec(name)
    return {
        "height": len(spec.layout),
        "width": len(spec.layout[0]),
        "num_objects": len(spec.objects),
        "random_respawn": spec.random_respawn,
        "max_steps": spec.max_steps,
        "layout": spec.layout,
        "note": spec.note,
    }


def _named_spec(name: str) -> _NamedLevel:
    if name not in _NAMED:
        raise ValueError(f"unknown gridworld level {name!r}; known: {', '.join(_NAMED)}")
    return _NAMED[name]


def named_level(
    name: str, max_height: int | None = None, max_width: int | None = None, max_objects: int | None = None
) -> Level:
    """A hand-designed level by name (see :func:`list_levels`), padded to the given maxima.

    The maxima default to the level's own size and object count.
    """
    spec = _named_spec(name)
    h, w = len(spec.layout), len(spec.layout[0])
    letters = sorted(spec.objects)
    walls = np.zeros((h, w), bool)
    start = np.zeros((h, w), bool)
    pos = np.zeros((len(letters), 2), np.int32)
    for r, row in enumerate(spec.layout):
        assert len(row) == w, f"{name}: ragged layout row {r}"
        for c, ch in enumerate(row):
            if ch == "#":
                walls[r, c] = True
            elif ch == "S":
                start[r, c] = True
            elif ch in spec.objects:
                pos[letters.index(ch)] = (r, c)
            else:
                assert ch == ".", f"{name}: unknown layout character {ch!r}"
    props = np.array([spec.objects[letter] for letter in letters], np.float32)
    level = Level(
        height=jnp.asarray(h, jnp.int32),
        width=jnp.asarray(w, jnp.int32),
        walls=jnp.asarray(walls),
        start_mask=jnp.asarray(start),
        obj_pos=jnp.asarray(pos),
        obj_reward=jnp.asarray(props[:, 0]),
        obj_p_end=jnp.asarray(props[:, 1]),
        obj_p_respawn=jnp.asarray(props[:, 2]),
        obj_active=jnp.ones((len(letters),), bool),
        random_respawn=jnp.asarray(spec.random_respawn),
        max_steps=jnp.asarray(spec.max_steps, jnp.int32),
        lifetime=jnp.asarray(spec.lifetime, jnp.int32),
    )
    return pad_level(level, max_height or h, max_width or w, max_objects or len(letters))


def make_gridworld(
    level: str | Level = "dense",
    max_height: int | None = None,
    max_width: int | None = None,
    max_objects: int | None = None,
    observation: str | None = None,
    max_episode_steps: int | None = None,
) -> GridWorld:
    """A :class:`GridWorld` whose ``default_params`` is ``level``: a name (:func:`list_levels`), ``FAMILY@SEED``
    (``random_level(PRNGKey(SEED), FAMILY)`` for a :data:`LEVEL_DISTRIBUTIONS` name, e.g. ``rand_all@3``: a level
    of a family as a fixed evaluation task), or a :class:`Level`.

    The maxima default to the level's own padded size; ``observation``
    defaults to ``"grid"`` for random-respawn named levels and ``"tabular"``
    otherwise. This is what ``make_env("GridWorld", level=...)`` calls.
    """
    if isinstance(level, str) and "@" in level:  # FAMILY@SEED: one random level of a family, as a fixed task
        family, seed = _family_level(level)
        d = level_distribution(family)
        lvl = pad_level(
            random_level(jax.random.PRNGKey(seed), d),
            max_height or d.max_height,
            max_width or d.max_width,
            max_objects or d.max_objects,
        )
        if observation is None:
            observation = "grid" if d.random_respawn else "tabular"
    elif isinstance(level, str):
        lvl = named_level(level, max_height, max_width, max_objects)
        if observation is None:
            observation = "grid" if _named_spec(level).random_respawn else "tabular"
    elif isinstance(level, Level):
        h, w, k = level.dims
        lvl = pad_level(level, max_height or h, max_width or w, max_objects or k)
    else:
        raise TypeError(f"level must be a level name or a Level; got {type(level).__name__}")
    h, w, k = lvl.dims
    return GridWorld(h, w, k, observation or "tabular", default_level=lvl, max_episode_steps=max_episode_steps)
