"""Students of OPEN: a smaller feed-forward OPEN, or a formula, fitted to the teacher's per-element outputs.

OPEN's network maps each parameter element's 19 features (``learned_optimizers.open.FEATURES``) through
a GRU and an MLP to (o0, o1, o2); the update is o0·0.001·exp(0.001·o1) plus o2·0.001·noise on the
actor. The student is OPEN without the GRU (``use_gru=False``, the ``open_mlp`` ablation) and a smaller
``hidden_size``: it sees the same features — whose momenta at six timescales carry the history the GRU
would — and is fitted, with optax Adam, to what the teacher output on features recorded while the
teacher itself trained an agent (``learned_optimizers.open.tapped``). The loss weighs what reaches the
parameters: the deterministic step d = o0·exp(0.001·o1) and, when the teacher is stochastic, the noise
scale o2, each over its variance.

The formula student (``fit_open_symbolic``) is ``learned_optimizers.symbolic_open``: the step d as an
expression of the same 19 features found by symbolic regression (``metalearn.distill.symbolic``), without
the noise. Either student is a rule file like any other (``to_optax``, ``metalearn eval``, ``analyze``).
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from learned_optimizers import LEARNED_OPTIMIZERS, open_opt, symbolic_open
from metalearn.distill import symbolic as sym
from metalearn.distill.samples import train_and_keep
from metalearn.inner import TrainConfig, Trainer
from metalearn.rules import Rule, make_rule
from objectives.expression import constants, to_text

# Operon's operators for a formula of OPEN's features.
SYMBOLS = "add,sub,mul,constant,variable,tanh,square,fmax,fmin"


class OpenSamples(NamedTuple):
    """n recorded elements: their features (n, 19) and the teacher's outputs (n, 3)."""

    features: np.ndarray
    outputs: np.ndarray


def is_open_rule(rule: Rule) -> bool:
    """Whether ``rule`` is OPEN or one of its variants (a registered optimizer built on ``open_opt``)."""
    return (
        rule.optimizer is not None
        and rule.name in LEARNED_OPTIMIZERS
        and LEARNED_OPTIMIZERS[rule.name].module is open_opt
    )


def check_open_rule(rule: Rule) -> None:
    if not is_open_rule(rule):
        opens = [name for name, v in LEARNED_OPTIMIZERS.items() if v.module is open_opt]
        raise ValueError(
            f"rule {rule.name!r} is not OPEN; optimizer distillation takes OPEN rules ({', '.join(opens)})"
        )


def _to_optax_kwargs(rule: Rule) -> dict:
    accepted = set(inspect.signature(open_opt.to_optax).parameters) - {"meta_params"}
    return {k: v for k, v in rule.kwargs.items() if k in accepted}


def record_open_io(
    rule: Rule,
    meta_params: Any,
    env: Any,
    config: TrainConfig,
    seeds: int = 2,
    seed: int = 0,
    columns: int = 32,
    max_samples: int = 50_000,
) -> OpenSamples:
    """``columns`` random parameter elements per optimizer step (fresh each step) of ``seeds`` trainings of
    ``config`` on ``env`` with the teacher; at most ``max_samples`` kept (seeded: deterministic given ``seed``)."""
    check_open_rule(rule)
    if columns < 1:
        raise ValueError(f"columns={columns} must be >= 1")
    chunks: list[np.ndarray] = []

    def keep(features, outputs):
        chunks.append(np.concatenate([np.asarray(features), np.asarray(outputs)]).T)

    def tap(features, outputs, count):
        k = min(columns, features.shape[1])
        idx = jax.random.choice(jax.random.fold_in(jax.random.PRNGKey(seed), count), features.shape[1], (k,), False)
        jax.debug.callback(keep, features[:, idx], outputs[:, idx])

    tx = open_opt.tapped(meta_params, tap, **_to_optax_kwargs(rule))
    data = train_and_keep(Trainer(env, config, optimizer=tx), meta_params, chunks, seeds, seed, max_samples)
    bad = ~np.isfinite(data).all(axis=1)
    if bad.any():
        raise ValueError(f"teacher {rule.name!r} gave {int(bad.sum())} non-finite features or outputs; a diverged rule")
    n = open_opt.NUM_FEATURES
    return OpenSamples(data[:, :n].astype(np.float32), data[:, n:].astype(np.float32))


def step_and_noise(outputs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(deterministic step d = o0·exp(0.001·o1), noise scale o2) from outputs (..., 3)."""
    return outputs[..., 0] * jnp.exp(outputs[..., 1] * open_opt.EXP_MULT), outputs[..., 2]


def student_rule(teacher: Rule, hidden: int) -> Rule:
    """OPEN without the GRU and with ``hidden`` units; the teacher's noise and ablations kept."""
    kw = {k: v for k, v in teacher.kwargs.items() if k in ("stochastic", "ablate")}
    return make_rule("open", use_gru=False, hidden_size=hidden, **kw)


def student_outputs(meta_params: dict, features: jax.Array, hidden: int, ablate: tuple[str, ...] = ()) -> jax.Array:
    """The student's (o0, o1, o2) for features (n, 19): (n, 3), ablated feature groups zeroed as its update does."""
    off = [i for g in ablate for i in open_opt.FEATURE_GROUPS[g]]
    keep = jnp.ones(open_opt.NUM_FEATURES).at[jnp.array(off, int)].set(0.0)
    return open_opt._mlp(hidden).apply(meta_params["params"], features * keep)


def student_step(student: Rule, meta_params: dict, features: np.ndarray) -> jax.Array:
    """(n,) the deterministic step d of a student of OPEN (a GRU-less ``open`` or ``symbolic_open``) at features
    (n, 19)."""
    x = jnp.asarray(features)
    if student.name == "symbolic_open":
        return symbolic_open.step(symbolic_open.parse(student.kwargs["expression"]), meta_params["c"], x.T)
    hidden, ablate = student.kwargs["hidden_size"], tuple(student.kwargs.get("ablate", ()))
    return step_and_noise(student_outputs(meta_params, x, hidden, ablate))[0]


def fit_open_symbolic(
    samples: OpenSamples, val_samples: OpenSamples, seed: int = 0, **search_options: Any
) -> tuple[tuple[sym.Candidate, ...], int]:
    """(Pareto front of formulas e(features) for OPEN's step d as ``symbolic_open`` candidates, sorted by length;
    index of the chosen one, by :func:`metalearn.distill.symbolic.choose`).

    ``search_options``: :func:`metalearn.distill.symbolic.search`'s (``symbols`` defaults to ``SYMBOLS``:
    no log, exp or division, whose poles a formula would meet on inputs the samples never held).
    """
    search_options.setdefault("symbols", SYMBOLS)
    d_fit = np.asarray(step_and_noise(jnp.asarray(samples.outputs))[0], np.float64)
    d_val = np.asarray(step_and_noise(jnp.asarray(val_samples.outputs))[0], np.float64)
    x = np.asarray(samples.features, np.float64)
    candidates = []
    for raw, length in sym.search(x, d_fit, list(symbolic_open.VARIABLES), seed=seed, **search_options):
        text = to_text(sym.tidy(raw))
        tree = symbolic_open.parse(text)
        c = constants(tree)
        rmse = [
            float(np.sqrt(np.mean((np.asarray(symbolic_open.step(tree, c, jnp.asarray(f.features).T)) - d) ** 2)))
            for f, d in ((samples, d_fit), (val_samples, d_val))
        ]
        candidates.append(sym.Candidate(text, length, *rmse))
    return sym.choose(candidates)


def fit_open_mlp(
    teacher: Rule,
    samples: OpenSamples,
    hidden: int = 8,
    steps: int = 3000,
    lr: float = 1e-2,
    seed: int = 0,
    restarts: int = 4,
) -> tuple[Rule, dict]:
    """(student rule, its meta-parameters) fitted by full-batch Adam (cosine-decayed) from ``restarts`` random
    starts at once (vmapped), the one with the lowest final loss kept. Deterministic given ``seed``."""
    if hidden < 1 or steps < 1 or restarts < 1 or not lr > 0:
        raise ValueError(f"hidden={hidden}, steps={steps}, restarts={restarts} must be >= 1 and lr={lr} > 0")
    rule = student_rule(teacher, hidden)
    starts = jax.vmap(rule.init)(jax.random.split(jax.random.PRNGKey(seed), restarts))
    x = jnp.asarray(samples.features)
    ablate = tuple(rule.kwargs.get("ablate", ()))
    d_t, n_t = step_and_noise(jnp.asarray(samples.outputs))
    noisy = bool(rule.kwargs.get("stochastic", True))
    var_d, var_n = jnp.var(d_t) + 1e-12, jnp.var(n_t) + 1e-12
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))

    def loss(p):
        d_s, n_s = step_and_noise(student_outputs(p, x, hidden, ablate))
        return jnp.mean((d_s - d_t) ** 2) / var_d + (jnp.mean((n_s - n_t) ** 2) / var_n if noisy else 0.0)

    @jax.jit
    @jax.vmap
    def run(params):
        def step(carry, _):
            p, s = carry
            grads = jax.grad(loss)(p)
            updates, s = opt.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, steps)
        return p, loss(p)

    fitted, losses = run(starts)
    best = int(jnp.argmin(jnp.where(jnp.isfinite(losses), losses, jnp.inf)))
    return rule, jax.device_get(jax.tree.map(lambda x: x[best], fitted))
