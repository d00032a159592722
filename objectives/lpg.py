"""Learned Policy Gradient (Oh et al. 2020) and temporally-aware TA-LPG (Jackson et al. 2024).

The agent has a policy π(a|s) and a prediction head y(s) ∈ Δ^k (softmax of
``TrainConfig.aux_head_dim = k`` logits). After each rollout a *backward* GRU
runs over every env's trajectory from its last step to its first, reading per
step

    x_t = [r_t, d_t, π(a_t|s_t), φ(y(s_t)), (1 − d_t)·φ(y(s_{t+1}))]

(φ: a small embedding MLP k → E → 1 shared by both predictions; TA-LPG
appends training progress n/N and log N), with its state reset to zero at
every terminal step, so the outputs at t only see steps t … the episode's
end. Its outputs are π̂_t = w·relu(h_t) + b (a scalar) and
ŷ_t = softmax(W·relu(h_t) + c) ∈ Δ^k. The agent then minimises, per sample,

    −π̂_t · log π(a_t|s_t) + y_coef · KL(ŷ_t ‖ y(s_t))

(the trainer adds its entropy bonus). Widths follow GROOVE's defaults: GRU
256, embedding 16, k = 8, y_coef 0.5. The GROOVE reference's KL runs the
other way, KL(y(s_t) ‖ ŷ_t) (its agents/lpg_agent.py:61, util/metrics.py:12-14):
``kl_direction="y_yhat"`` selects it; the default ``"yhat_y"`` stays because
the stored rules (zoo, reports) were meta-trained with it.

meta_params = {"embed":  {"w1": (k, E), "b1": (E,), "w2": (E,), "b2": ()},
               "gru":    {"wi": (F, 3H), "wh": (H, 3H), "bi": (3H,), "bh": (3H,)},
               "pi_head": {"w": (H,), "b": ()},
               "y_head":  {"w": (H, k), "b": (k,)}}      with F = 5 (LPG) or 7 (TA-LPG).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from objectives.base import Objective, ObjectiveInputs, TrajectoryInputs

KIND = "trajectory"

NUM_FEATURES = 5
NUM_TEMPORAL_FEATURES = 2
# KL(ŷ ‖ y) (ours, the default) and KL(y ‖ ŷ) (the GROOVE reference's).
KL_DIRECTIONS = ("yhat_y", "y_yhat")


def _normal(key: jax.Array, shape: tuple[int, ...], fan_in: int) -> jax.Array:
    return jax.random.normal(key, shape, jnp.float32) / jnp.sqrt(jnp.float32(fan_in))


def init(rng: jax.Array, hidden: int = 256, embed: int = 16, target_dim: int = 8, temporal: bool = False) -> dict:
    """Random meta-parameters (scaled normal weights, zero biases)."""
    for name, v in (("hidden", hidden), ("embed", embed), ("target_dim", target_dim)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"LPG {name}={v!r} is invalid; allowed: an integer >= 1")
    n_in = NUM_FEATURES + (NUM_TEMPORAL_FEATURES if temporal else 0)
    k = jax.random.split(rng, 6)
    return {
        "embed": {
            "w1": _normal(k[0], (target_dim, embed), target_dim),
            "b1": jnp.zeros((embed,)),
            "w2": _normal(k[1], (embed,), embed),
            "b2": jnp.zeros(()),
        },
        "gru": {
            "wi": _normal(k[2], (n_in, 3 * hidden), n_in),
            "wh": _normal(k[3], (hidden, 3 * hidden), hidden),
            "bi": jnp.zeros((3 * hidden,)),
            "bh": jnp.zeros((3 * hidden,)),
        },
        "pi_head": {"w": _normal(k[4], (hidden,), hidden), "b": jnp.zeros(())},
        "y_head": {"w": _normal(k[5], (hidden, target_dim), hidden), "b": jnp.zeros((target_dim,))},
    }


def _embed(p: dict, y: jax.Array) -> jax.Array:
    """φ(y): (..., k) -> (...,)."""
    return jax.nn.relu(y @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def _gru_cell(p: dict, h: jax.Array, x: jax.Array) -> jax.Array:
    """One GRU step (reset gate applied to the hidden projection, as flax's GRUCell): (E, H), (E, F) -> (E, H)."""
    gi = x @ p["wi"] + p["bi"]
    gh = h @ p["wh"] + p["bh"]
    ir, iz, inn = jnp.split(gi, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(ir + hr)
    z = jax.nn.sigmoid(iz + hz)
    n = jnp.tanh(inn + r * hn)
    return (1.0 - z) * n + z * h


def _dtype(meta_params: dict, traj: TrajectoryInputs) -> jnp.dtype:
    """The float type the rule computes in: its parameters' and the agent's predictions', promoted (float32
    normally; float64 when both are, for a float64 check of the meta-gradient)."""
    return jnp.result_type(meta_params["gru"]["wi"], traj.prediction)


def inputs_features(meta_params: dict, traj: TrajectoryInputs) -> jax.Array:
    """x_t for every step: (T, E, F)."""
    k = meta_params["y_head"]["w"].shape[1]
    if traj.prediction.shape[-1] != k or traj.next_prediction.shape[-1] != k:
        raise ValueError(
            f"LPG meta-parameters predict k={k} values but the agent's prediction head has "
            f"{traj.prediction.shape[-1]}; set TrainConfig.aux_head_dim={k}"
        )
    dtype = _dtype(meta_params, traj)
    done = traj.done.astype(dtype)
    cols = [
        traj.reward.astype(dtype),
        done,
        traj.pi.astype(dtype),
        _embed(meta_params["embed"], traj.prediction),
        (1.0 - done) * _embed(meta_params["embed"], traj.next_prediction),
    ]
    n_in = meta_params["gru"]["wi"].shape[0]
    if n_in == NUM_FEATURES + NUM_TEMPORAL_FEATURES:
        log_n = jnp.log(jnp.maximum(jnp.asarray(traj.num_updates, dtype), 1.0))
        cols += [jnp.full_like(done, traj.progress), jnp.full_like(done, log_n)]
    elif n_in != NUM_FEATURES:
        raise ValueError(
            f"LPG meta_params['gru']['wi'] has {n_in} inputs; allowed: {NUM_FEATURES} (LPG) "
            f"or {NUM_FEATURES + NUM_TEMPORAL_FEATURES} (TA-LPG)"
        )
    return jnp.stack(cols, axis=-1)


def targets(meta_params: dict, traj: TrajectoryInputs) -> dict[str, jax.Array]:
    """{"pi_hat": (T, E), "y_hat": (T, E, k)} from one backward pass over the rollout."""
    x = inputs_features(meta_params, traj)
    hidden = meta_params["gru"]["wh"].shape[0]

    def step(h, xs):
        x_t, done_t = xs
        h = jnp.where(done_t[:, None], 0.0, h)  # a terminal step starts a fresh (backward) episode
        h = _gru_cell(meta_params["gru"], h, x_t)
        return h, h

    h0 = jnp.zeros((x.shape[1], hidden), x.dtype)
    _, hs = jax.lax.scan(step, h0, (x, traj.done), reverse=True)
    out = jax.nn.relu(hs)
    pi_hat = out @ meta_params["pi_head"]["w"] + meta_params["pi_head"]["b"]
    y_hat = jax.nn.softmax(out @ meta_params["y_head"]["w"] + meta_params["y_head"]["b"], axis=-1)
    return {"pi_hat": pi_hat, "y_hat": y_hat}


def agent_loss(x: ObjectiveInputs, y_coef: float = 0.5, kl_direction: str = "yhat_y") -> jax.Array:
    """Per-sample −π̂·log π(a|s) + y_coef·KL, (B,): KL(ŷ ‖ y(s)) for ``kl_direction="yhat_y"`` (the default),
    KL(y(s) ‖ ŷ) for ``"y_yhat"`` (the GROOVE reference's).

    π̂ and ŷ are computed from the agent's outputs held constant (the trainer
    does so), so they carry no gradient to the agent but do carry one to the
    rule's parameters: the path a meta-gradient takes.
    """
    if x.rule_targets is None or x.prediction is None:
        raise ValueError(
            "LPG needs per-sample rule targets and the agent's prediction head: use it through the inner "
            "trainer (it is a trajectory objective) with TrainConfig.aux_head_dim = k"
        )
    pi_hat, y_hat = x.rule_targets["pi_hat"], x.rule_targets["y_hat"]
    log_y = jax.nn.log_softmax(x.prediction, axis=-1)
    if kl_direction == "yhat_y":
        kl = jnp.sum(jax.scipy.special.xlogy(y_hat, y_hat) - y_hat * log_y, axis=-1)
    else:  # "y_yhat"; a ŷ that underflowed to 0 counts as the smallest normal number (log 0 = −inf)
        log_y_hat = jnp.log(jnp.maximum(y_hat, jnp.finfo(y_hat.dtype).tiny))
        kl = jnp.sum(jnp.exp(log_y) * (log_y - log_y_hat), axis=-1)
    return -pi_hat * x.log_prob + y_coef * kl


# The rule interface (see objectives/__init__.py).
def to_objective(y_coef: float = 0.5, kl_direction: str = "yhat_y") -> Objective:
    """:func:`targets` per rollout, then :func:`agent_loss` (reads ``inputs.rule_targets``, ``inputs.prediction``).

    ``kl_direction``: ``"yhat_y"`` (default, KL(ŷ ‖ y); every stored LPG rule was meta-trained with it) or
    ``"y_yhat"`` (KL(y ‖ ŷ), as the GROOVE reference)."""
    if not y_coef >= 0:
        raise ValueError(f"y_coef={y_coef} must be >= 0")
    if kl_direction not in KL_DIRECTIONS:
        raise ValueError(f"LPG kl_direction={kl_direction!r} is invalid; allowed: {' | '.join(KL_DIRECTIONS)}")

    def loss(meta_params: dict, x: ObjectiveInputs) -> jax.Array:
        del meta_params  # the meta-parameters act through the targets
        return agent_loss(x, y_coef, kl_direction)

    return Objective(loss, KIND, targets)
