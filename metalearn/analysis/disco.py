"""What a DiscoRL rule does: its policy and value targets along a recorded trajectory.

A DiscoRL rule (``objectives.disco``, e.g. the published Disco103) reads a batch of
trajectories and emits per step a target policy π̂_t (the agent's π(s_t) is pulled
towards it by KL), prediction targets ŷ_t, ẑ_t, and Retrace targets for the agent's
action values. The picture records one trajectory of a DiscoRL agent on Catch (the
reference's demonstration task: the ball falls for 9 steps and a catch pays +1, a
miss −1) and shows, per step, the rewards and episode ends, the probability the agent
and the rule's π̂ give the action taken (π̂ above π reinforces it), and the agent's
Q(s_t, a_t) against the rule's Retrace target with the normalised advantage the
rule's meta-network reads. The agent is freshly initialised unless ``updates`` > 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.inner import get_preset, make_trainer
from metalearn.rules import Rule, with_kwargs


def is_disco_rule(rule: Rule) -> bool:
    """A rule that brings its own agent (objective kind ``"agent"``: DiscoRL)."""
    return rule.objective is not None and rule.objective.kind == "agent"


class TrajectoryTargets(NamedTuple):
    """One stream's T steps: what happened and what the rule asked for (numpy, each (T,))."""

    rewards: np.ndarray
    is_terminal: np.ndarray
    pi_taken: np.ndarray  # π(a_t|s_t), the agent
    pi_hat_taken: np.ndarray  # softmax(π̂_t)[a_t], the rule's target
    q_taken: np.ndarray  # Q(s_t, a_t), the agent's categorical value read as a scalar
    q_target: np.ndarray  # Retrace target for it
    normalized_adv: np.ndarray


def record_targets(
    rule: Rule, meta_params: Any, steps: int = 45, updates: int = 0, seed: int = 0, env: str = "Catch-bsuite"
) -> TrajectoryTargets:
    """The rule's targets along ``steps`` steps of one stream of a small DiscoRL agent (after ``updates`` updates)."""
    if not is_disco_rule(rule):
        raise ValueError(f"rule {rule.name!r} is not a DiscoRL rule (objective kind 'agent')")
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"steps={steps!r} is invalid; allowed: an integer >= 2")
    if not (isinstance(updates, int) and updates >= 0):
        raise ValueError(f"updates={updates!r} is invalid; allowed: an integer >= 0")
    config = get_preset("catch").config.replace(
        hidden_size=64, num_envs=1, num_steps=steps, total_timesteps=max(updates, 1) * steps
    )
    rule = with_kwargs(rule, meta_params, batch_size=1, replay_capacity=0, min_replay=0)
    trainer = make_trainer(env, config, objective=rule.objective)
    state = trainer.init(meta_params, jax.random.PRNGKey(seed))
    if updates:
        state, _ = jax.jit(lambda s: trainer.run(meta_params, s, updates))(state)

    @jax.jit
    def one(state):
        state, trajs = trainer.rollout(state.params, state)
        x, tg, _ = trainer.rule_targets(meta_params, state, trajs)
        return trajs, x, tg

    trajs, x, tg = jax.device_get(one(state))
    a = trajs.actions[:, 0]
    t = np.arange(len(a))
    pi = jax.nn.softmax(x.agent_out.logits[:-1, 0], -1)
    pi_hat = jax.nn.softmax(tg.pi[:, 0], -1)
    return TrajectoryTargets(
        rewards=np.asarray(trajs.rewards[:, 0]),
        is_terminal=np.asarray(trajs.is_terminal[:, 0]),
        pi_taken=np.asarray(pi[t, a]),
        pi_hat_taken=np.asarray(pi_hat[t, a]),
        q_taken=np.asarray(tg.values.q_value[:-1, 0][t, a]),
        q_target=np.asarray(tg.values.q_target[:, 0]),
        normalized_adv=np.asarray(tg.normalized_adv[:, 0]),
    )


@styled
def targets_figure(tt: TrajectoryTargets, title: str = "") -> Figure:
    """Rewards and episode ends (top); π vs π̂ of the action taken (middle); Q vs its Retrace target (bottom)."""
    fig, axes = new_figure(3, 1, panel=(7.0, 1.9), sharex=True)
    top, mid, bottom = axes[:, 0]
    steps = np.arange(tt.rewards.size)
    top.bar(steps, tt.rewards, color=["C2" if r > 0 else "C3" for r in tt.rewards], width=0.8, label="reward r_t")
    top.axhline(0, color="k", lw=0.5)
    top.set_ylabel("reward")
    mid.plot(steps, tt.pi_taken, color="C7", marker=".", label="agent π(a_t|s_t)")
    mid.plot(steps, tt.pi_hat_taken, color="C0", marker=".", label="target π̂(a_t)")
    mid.set_ylabel("prob. of a_t")
    bottom.plot(steps, tt.q_taken, color="C7", marker=".", label="agent Q(s_t, a_t)")
    bottom.plot(steps, tt.q_target, color="C1", marker=".", label="Retrace target")
    bottom.plot(steps, tt.normalized_adv, color="C4", ls=":", marker=".", label="normalised advantage")
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("value")
    bottom.set_xlabel("step t of the rollout (env steps)")
    for ax in (top, mid, bottom):
        for e in steps[tt.is_terminal]:
            ax.axvline(e + 0.5, color="k", ls="--", lw=0.8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{title}: targets along a trajectory (dashed: episode ends)".lstrip(": "))
    return fig
