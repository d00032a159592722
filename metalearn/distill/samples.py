"""Where a drift objective operates: its inputs recorded during inner training, plus a grid.

A distilled student is only as good as the inputs it was fitted on. Two sources,
concatenated:

* ``record_drift_inputs``: the (r, A, progress, N) every minibatch fed the
  teacher while the teacher itself trained an agent (PPO on the given task), read
  out of the compiled training with ``jax.debug.callback``;
* ``grid_drift_inputs``: a grid over the drift's declared input range
  (``RATIO_RANGE`` × ``ADVANTAGE_RANGE``, at a few training progresses when the
  teacher reads progress), so the student is also pinned where training rarely goes.

``teacher_drift`` evaluates the teacher's f(r, A) on them. ``train_and_keep`` is the
recording loop (trainings whose callbacks append rows, then a seeded subsample), shared
with OPEN's distillation.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalearn.inner import TrainConfig, Trainer
from metalearn.rules import Rule
from objectives import Objective, ObjectiveInputs

# The drift's declared input range: ratios PPO-style training visits (with room either side of its clip
# range) and normalised advantages up to three standard deviations.
RATIO_RANGE = (0.5, 2.0)
ADVANTAGE_RANGE = (-3.0, 3.0)
GRID_PROGRESS = (0.0, 0.25, 0.5, 0.75, 1.0)


class DriftSamples(NamedTuple):
    """n inputs of a drift: ratio r > 0, advantage A, progress in [0, 1] and horizon N, each (n,)."""

    ratio: np.ndarray
    advantage: np.ndarray
    progress: np.ndarray
    num_updates: np.ndarray

    def __len__(self) -> int:
        return len(self.ratio)

    def take(self, index: np.ndarray) -> DriftSamples:
        return DriftSamples(*(np.asarray(x)[index] for x in self))

    @staticmethod
    def concat(*parts: DriftSamples) -> DriftSamples:
        return DriftSamples(*(np.concatenate(xs).astype(np.float32) for xs in zip(*parts, strict=True)))


def check_drift_rule(rule: Rule) -> None:
    if rule.objective is None or rule.objective.kind != "drift":
        kind = "an optimizer" if rule.objective is None else f"a {rule.objective.kind!r} objective"
        raise ValueError(f"rule {rule.name!r} is {kind}; drift distillation needs a drift objective (KIND 'drift')")


def record_drift_inputs(
    rule: Rule,
    meta_params: Any,
    env: Any,
    config: TrainConfig,
    seeds: int = 2,
    seed: int = 0,
    max_samples: int = 20_000,
) -> DriftSamples:
    """The inputs the teacher's own training fed it: ``seeds`` trainings of ``config`` on ``env``, at most
    ``max_samples`` of them kept (a seeded uniform choice; deterministic given ``seed``)."""
    check_drift_rule(rule)
    chunks: list[np.ndarray] = []

    def keep(ratio, advantage, progress, num_updates):
        r = np.asarray(ratio, np.float32).reshape(-1)
        n = r.size
        a = np.asarray(advantage, np.float32).reshape(-1)
        chunks.append(np.stack([r, a, np.full(n, progress), np.full(n, num_updates)], axis=1))

    teacher = rule.objective

    def recording_loss(mp, x: ObjectiveInputs):
        jax.debug.callback(keep, x.ratio, x.advantage, x.progress, x.num_updates)
        return teacher(mp, x)

    data = train_and_keep(Trainer(env, config, objective=Objective(recording_loss, teacher.kind)), meta_params,
                          chunks, seeds, seed, max_samples)  # fmt: skip
    return DriftSamples(*data.T)


def train_and_keep(
    trainer: Trainer, meta_params: Any, chunks: list, seeds: int, seed: int, max_samples: int
) -> np.ndarray:
    """Runs ``seeds`` trainings whose ``jax.debug.callback``s append (k, width) rows to ``chunks``; returns at most
    ``max_samples`` of all rows, a seeded uniform choice (deterministic given ``seed``)."""
    if seeds < 1 or max_samples < 1:
        raise ValueError(f"seeds={seeds} and max_samples={max_samples} must be >= 1")
    train = jax.jit(trainer.train)
    for key in jax.random.split(jax.random.PRNGKey(seed), seeds):
        jax.block_until_ready(train(meta_params, key))
    data = np.concatenate(chunks)
    # Callbacks may arrive in any order: sort the rows first, so the kept subset depends on the seed only.
    data = data[np.lexsort(data.T[::-1])]
    if len(data) > max_samples:
        data = data[np.sort(np.random.default_rng(seed).choice(len(data), max_samples, replace=False))]
    return data


def grid_drift_inputs(
    num: int = 41, progresses: tuple[float, ...] = (0.0,), num_updates: float = 1000.0
) -> DriftSamples:
    """A ``num`` × ``num`` grid of r (log-spaced over ``RATIO_RANGE``) × A (``ADVANTAGE_RANGE``) at each progress."""
    if num < 2:
        raise ValueError(f"num={num} must be >= 2")
    r = np.exp(np.linspace(*np.log(RATIO_RANGE), num))
    a = np.linspace(*ADVANTAGE_RANGE, num)
    rr, aa, pp = (x.reshape(-1) for x in np.meshgrid(r, a, np.asarray(progresses, np.float64), indexing="ij"))
    return DriftSamples.concat(DriftSamples(rr, aa, pp, np.full_like(rr, num_updates)))


def one_sample(r: jax.Array, a: jax.Array, p: jax.Array, n: jax.Array) -> ObjectiveInputs:
    """The inputs of one sample (batch 1) with its own progress p and horizon n: vmap it for per-sample context."""
    return ObjectiveInputs(r[None], a[None], jnp.log(r)[None], jnp.zeros(1), p, n)


def drift_fn(rule: Rule, meta_params: Any):
    """A jitted f(r, A, progress, N) -> (n,) for per-sample progress and horizon (each sample its own context)."""
    check_drift_rule(rule)

    def one(r, a, p, n):
        x = one_sample(r, a, p, n)
        return (rule.objective(meta_params, x) + x.ratio * x.advantage)[0]

    return jax.jit(jax.vmap(one))


def teacher_drift(rule: Rule, meta_params: Any, samples: DriftSamples) -> np.ndarray:
    """The teacher's f on ``samples`` (n,); non-finite values fail with where they are."""
    if len(samples) == 0:
        raise ValueError("no samples to distil on (empty)")
    f = np.asarray(drift_fn(rule, meta_params)(*(jnp.asarray(x, jnp.float32) for x in samples)))
    bad = ~np.isfinite(f)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"teacher {rule.name!r} gives {int(bad.sum())} non-finite drift values, e.g. at r={samples.ratio[i]:g}, "
            f"A={samples.advantage[i]:g}, progress={samples.progress[i]:g}; a diverged rule cannot be distilled"
        )
    return f
