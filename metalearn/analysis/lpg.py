"""What an LPG rule does: its targets π̂ and ŷ along a trajectory, against the rewards and episode ends.

An LPG / TA-LPG rule (``objectives.lpg``) reads a whole rollout backwards and
emits per step a scalar π̂_t (the agent ascends π̂_t · log π(a_t|s_t), so
π̂ > 0 reinforces the action taken and π̂ < 0 discourages it) and a
distribution ŷ_t that the agent's prediction head y(s_t) is pulled towards.
Its backward GRU restarts at every terminal step, so π̂_t and ŷ_t can depend
only on steps t … the end of t's episode.

The default trajectory is synthetic and sparse (gridworld-like, where LPG was
discovered): one environment, two episodes, a few ±1 rewards, π(a|s) and the
agent's predictions held constant, so every change along the picture is the
rule's response to rewards and episode ends. Any ``TrajectoryInputs`` (e.g. a
recorded rollout) can be given instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.rules import Rule
from objectives import TrajectoryInputs, names_of_kind

# The registered trajectory objectives (their modules declare KIND = "trajectory").
LPG_RULES = tuple(names_of_kind("trajectory"))
# Step -> reward of the default trajectory; episode ends after steps 23 and 47 (48 steps).
DEFAULT_REWARDS = {8: 1.0, 16: -1.0, 20: 1.0, 36: 1.0}
DEFAULT_DONES = (23, 47)


def is_lpg_rule(rule: Rule) -> bool:
    """An objective that reads trajectories and emits LPG's {"pi_hat", "y_hat"} targets."""
    return rule.objective is not None and rule.objective.kind == "trajectory"


def target_dim(meta_params: Mapping[str, Any]) -> int:
    """k, the size of the prediction y the rule's meta-parameters are built for."""
    return int(np.shape(meta_params["y_head"]["w"])[1])


def synthetic_trajectory(
    k: int,
    length: int = 48,
    rewards: Mapping[int, float] | None = None,
    dones: tuple[int, ...] = DEFAULT_DONES,
    pi: float = 0.5,
) -> TrajectoryInputs:
    """One environment's rollout (T = ``length``, E = 1) with sparse rewards and episode ends.

    ``rewards`` maps step -> reward (default :data:`DEFAULT_REWARDS`); ``dones``
    are the steps that end an episode. π(a_t|s_t) = ``pi`` and the predictions
    y(s_t) = y(s_{t+1}) are uniform over k at every step (an untrained agent).
    ``progress`` and ``num_updates`` are placeholders: :func:`lpg_targets` sets them.
    """
    rewards = DEFAULT_REWARDS if rewards is None else rewards
    for step in (*rewards, *dones):
        if not 0 <= step < length:
            raise ValueError(f"step {step} is outside the trajectory; allowed: 0 … {length - 1}")
    if not 0 < pi <= 1:
        raise ValueError(f"pi={pi} must be a probability in (0, 1]")
    r = np.zeros((length, 1), np.float32)
    for step, value in rewards.items():
        r[step, 0] = value
    d = np.zeros((length, 1), bool)
    d[list(dones), 0] = True
    prediction = np.full((length, 1, k), 1.0 / k, np.float32)
    return TrajectoryInputs(
        reward=jnp.asarray(r),
        done=jnp.asarray(d),
        pi=jnp.full((length, 1), pi, jnp.float32),
        prediction=jnp.asarray(prediction),
        next_prediction=jnp.asarray(prediction),
        progress=jnp.float32(0.0),
        num_updates=jnp.float32(1.0),
    )


class LpgTargets(NamedTuple):
    """π̂ and ŷ of an LPG rule along one environment's trajectory, at several training progresses."""

    reward: np.ndarray  # (T,)
    done: np.ndarray  # (T,) bool: step t ended an episode
    pi: np.ndarray  # (T,) π(a_t|s_t) of the action taken
    progresses: np.ndarray  # (P,)
    pi_hat: np.ndarray  # (P, T)
    y_hat: np.ndarray  # (P, T, k)
    num_updates: int
    temporal: bool  # the rule reads progress (TA-LPG); if not, the P rows are equal


def lpg_targets(
    rule: Rule,
    meta_params: Any,
    trajectory: TrajectoryInputs | None = None,
    progresses: tuple[float, ...] = (0.0,),
    num_updates: int = 1000,
    env: int = 0,
) -> LpgTargets:
    """The rule's targets along environment ``env`` of ``trajectory`` (default :func:`synthetic_trajectory`).

    The trajectory's own ``progress`` and ``num_updates`` are replaced by each
    of ``progresses`` and by ``num_updates`` (only TA-LPG reads them).
    """
    if not is_lpg_rule(rule):
        raise ValueError(f"rule {rule.name!r} is not an LPG objective; allowed: {', '.join(LPG_RULES)}")
    if not progresses:
        raise ValueError("progresses is empty; allowed: one or more training progresses in [0, 1]")
    traj = synthetic_trajectory(target_dim(meta_params)) if trajectory is None else trajectory
    if not 0 <= env < traj.reward.shape[1]:
        raise ValueError(f"env={env} is out of range; allowed: 0 … {traj.reward.shape[1] - 1}")
    pi_hat, y_hat = [], []
    for p in progresses:
        t = traj._replace(progress=jnp.float32(p), num_updates=jnp.float32(num_updates))
        out = rule.objective.rule_targets(meta_params, t)
        pi_hat.append(np.asarray(out["pi_hat"])[:, env])
        y_hat.append(np.asarray(out["y_hat"])[:, env])
    return LpgTargets(
        reward=np.asarray(traj.reward)[:, env],
        done=np.asarray(traj.done)[:, env].astype(bool),
        pi=np.asarray(traj.pi)[:, env],
        progresses=np.asarray(progresses, np.float32),
        pi_hat=np.stack(pi_hat),
        y_hat=np.stack(y_hat),
        num_updates=int(num_updates),
        temporal=bool(rule.kwargs.get("temporal", False)),
    )


def progress_dependence(t: LpgTargets) -> dict[str, float]:
    """How much the targets change with the agent's lifetime progress, relative to how much they vary at all.

    For π̂ (P, T) and ŷ (P, T, k): sqrt(Σ (x − mean over progresses)² / Σ (x − mean over progresses and
    steps)²), sums over progresses, steps (and ŷ's k). 0: the targets ignore progress (LPG always);
    1: they vary only with progress. Needs two or more progresses.
    """
    if len(t.progresses) < 2:
        raise ValueError(f"progresses={t.progresses.tolist()}; allowed: two or more, to compare")

    def ratio(x: np.ndarray) -> float:
        x = np.asarray(x, np.float64)
        across = np.sum((x - x.mean(axis=0, keepdims=True)) ** 2)
        total = np.sum((x - x.mean(axis=(0, 1), keepdims=True)) ** 2)
        return float(np.sqrt(across / total)) if total > 0 else 0.0

    return {"pi_hat": ratio(t.pi_hat), "y_hat": ratio(t.y_hat)}


# ----------------------------------------------------------------------- figures
@styled
def lpg_figure(t: LpgTargets, title: str = "") -> Figure:
    """Rewards and episode ends (top), π̂ per progress (middle), ŷ as a heatmap at the first progress (bottom)."""
    import matplotlib

    fig, axes = new_figure(3, 1, panel=(7.0, 1.9), sharex=True)
    top, mid, bottom = axes[:, 0]
    steps = np.arange(t.reward.size)
    ends = steps[t.done]
    for ax in (top, mid):
        for e in ends:
            ax.axvline(e + 0.5, color="k", ls="--", lw=0.8)
    colors = ["C2" if r > 0 else "C3" for r in t.reward]
    top.bar(steps, t.reward, color=colors, width=0.8, label="reward r_t")
    top.plot(steps, t.pi, color="C7", lw=1.2, label="π(a_t|s_t)")
    top.set_ylabel("reward, π")
    top.axhline(0, color="k", lw=0.5)
    handles, labels = top.get_legend_handles_labels()
    handles.append(matplotlib.lines.Line2D([], [], color="k", ls="--", lw=0.8))
    labels.append("episode end")
    top.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    cmap = matplotlib.colormaps["viridis"]
    rows = t.pi_hat if t.temporal else t.pi_hat[:1]
    for i, row in enumerate(rows):
        label = f"progress {t.progresses[i]:.2f}" if t.temporal else "π̂_t"
        mid.plot(steps, row, color=cmap(0.9 * i / max(len(rows) - 1, 1)), lw=1.5, marker=".", ms=3, label=label)
    mid.axhline(0, color="k", lw=0.5)
    mid.set_ylabel("policy target π̂")
    mid.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    k = t.y_hat.shape[-1]
    mesh = bottom.pcolormesh(steps, np.arange(k), t.y_hat[0].T, cmap="magma", vmin=0.0, shading="nearest")
    bottom.set_ylabel("ŷ component")
    bottom.set_yticks(np.arange(k))
    bottom.set_xlabel("step t of the rollout (env steps)")
    bottom.grid(False)
    for e in ends:
        bottom.axvline(e + 0.5, color="w", ls="--", lw=0.8)
    at = f" (progress {t.progresses[0]:.2f})" if t.temporal else ""
    # An inset colour bar, beside the bottom panel like the legends above, so the three x axes stay aligned.
    fig.colorbar(mesh, cax=bottom.inset_axes((1.02, 0.0, 0.025, 1.0)), label=f"ŷ_t{at}")
    horizon = f", horizon N = {t.num_updates}" if t.temporal else ""
    fig.suptitle(f"{title}: targets along a trajectory\n(read backwards, reset at episode ends{horizon})".lstrip(": "))
    return fig
