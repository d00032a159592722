"""What an inner training reports: per-update metrics and the run's result (every trainer returns these)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from metalearn.envs.wrappers import LogState, find_wrapper_state


class UpdateMetrics(NamedTuple):
    """Per-update scalars; stacked to (num_updates,) in a TrainResult.

    episode_return: mean over envs of each env's last finished episode's return
      (0 for an env that has not finished one yet; as PureJaxRL and OPEN log).
    episodes: episodes finished during this update's rollout.
    positive_value_loss, l1_value_loss: mean over the rollout of max(Â, 0) and of |Â|, Â the GAE
      advantages under the critic before this update (PLR's learner-centred level scores).
    The rest are means over the update's epochs and minibatches.
    """

    episode_return: jax.Array
    episodes: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_frac: jax.Array
    value_loss: jax.Array
    actor_loss: jax.Array
    grad_norm: jax.Array  # global norm of the gradient before clipping
    positive_value_loss: jax.Array
    l1_value_loss: jax.Array


class TrainResult(NamedTuple):
    """Outcome of one inner training run (add leading axes under vmap).

    final_return: () mean of ``curve`` over the last ``config.final_window`` updates.
    eval_return: () the final policy (sampling actions) on ``eval_envs`` fresh envs,
      one episode each, cut at ``eval_steps``; NaN when evaluation is disabled.
    curve: (num_updates,) ``metrics.episode_return``.
    metrics: UpdateMetrics of (num_updates,) arrays.
    diverged: () bool, True if a loss or parameter became NaN/inf.
    params: final agent params if ``config.return_params`` else None.
    """

    final_return: jax.Array
    eval_return: jax.Array
    curve: jax.Array
    metrics: UpdateMetrics
    diverged: jax.Array
    params: Any


def update_metrics(
    env_state: Any,
    episodes: jax.Array,
    losses: Mapping[str, jax.Array],
    advantages: jax.Array,
    mean: Callable[[jax.Array], jax.Array] = jnp.mean,
) -> UpdateMetrics:
    """One update's :class:`UpdateMetrics`: the episode return logged in the training envs' ``env_state`` after
    the update's rollout, ``episodes`` finished, the update's ``losses`` (entropy, approx_kl, value_loss,
    actor_loss, grad_norm, and clip_frac where the agent clips a ratio, else NaN), and the learner-centred
    scores of ``advantages`` (their positive part and magnitude, averaged by ``mean``)."""
    return UpdateMetrics(
        episode_return=find_wrapper_state(env_state, LogState).returned_episode_return.mean(),
        episodes=episodes,
        entropy=losses["entropy"],
        approx_kl=losses["approx_kl"],
        clip_frac=losses["clip_frac"] if "clip_frac" in losses else jnp.asarray(jnp.nan, jnp.float32),
        value_loss=losses["value_loss"],
        actor_loss=losses["actor_loss"],
        grad_norm=losses["grad_norm"],
        positive_value_loss=mean(jnp.maximum(advantages, 0.0)),
        l1_value_loss=mean(jnp.abs(advantages)),
    )


def all_finite(tree: Any) -> jax.Array:
    """() bool: no leaf of ``tree`` holds a NaN or inf (what ``TrainResult.diverged`` watches)."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))
