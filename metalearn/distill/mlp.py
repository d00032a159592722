"""An MLP student of a drift objective: a small LPO network fitted to the teacher's f(r, A).

The student *is* an LPO rule (``objectives.lpo``, ``clip_eps=0``: no PPO part, the
network states the whole drift), so it keeps LPO's invariants by construction —
f ≥ 0, f(1, A) = 0, ∂f/∂r(1, A) = 0 — and its rule file loads wherever LPO's does.
It reads progress and horizon (TA-LPO's inputs) when the teacher does.

The fit regresses the network's pre-relu output u on the teacher's f with
optax Adam, on the residual

    u − f      where f > 0   (match the value)
    relu(u)    where f = 0   (anything ≤ 0 is right: relu(u) = 0)

so a sample the relu switches off still has a gradient when it should be on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from metalearn.distill.samples import DriftSamples, one_sample
from metalearn.rules import Rule, make_rule
from objectives import lpo


def student_rule(hidden: int, temporal: bool) -> Rule:
    """The student's rule: LPO (TA-LPO if ``temporal``) with ``hidden`` tanh units and no PPO part."""
    return make_rule("ta_lpo" if temporal else "lpo", hidden=hidden, clip_eps=0.0)


def _unrectified(meta_params: dict, samples: tuple[jax.Array, ...]) -> jax.Array:
    """u(r, A) per sample (n,), each with its own progress and horizon."""

    def one(r, a, p, n):
        x = one_sample(r, a, p, n)
        return lpo.unrectified_drift(meta_params, x.ratio, x.advantage, x, clip_eps=0.0)[0]

    return jax.vmap(one)(*samples)


def residual(u: jax.Array, f: jax.Array) -> jax.Array:
    """The fitting residual (module docstring): u − f where the teacher is on, relu(u) where it is off."""
    return jnp.where(f > 0, u - f, jax.nn.relu(u))


def fit_mlp(
    samples: DriftSamples,
    target,
    hidden: int = 16,
    temporal: bool = False,
    steps: int = 3000,
    lr: float = 1e-2,
    seed: int = 0,
) -> tuple[Rule, dict]:
    """(student rule, its meta-parameters) fitted to ``target`` (n,) on ``samples`` by full-batch Adam with a
    cosine-decayed step size. Deterministic given ``seed``."""
    if hidden < 1 or steps < 1 or not lr > 0:
        raise ValueError(f"hidden={hidden}, steps={steps} must be >= 1 and lr={lr} > 0")
    rule = student_rule(hidden, temporal)
    params = lpo.init(jax.random.PRNGKey(seed), hidden=hidden, temporal=temporal, zero_init=True)
    xs = tuple(jnp.asarray(x, jnp.float32) for x in samples)
    f = jnp.asarray(target, jnp.float32)
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))

    def loss(p):
        return jnp.mean(residual(_unrectified(p, xs), f) ** 2)

    @jax.jit
    def run(params):
        def step(carry, _):
            p, s = carry
            value, grads = jax.value_and_grad(loss)(p)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), value

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, steps)
        return p

    return rule, jax.device_get(run(params))
