"""DiscoRL's discovered update rule (Oh et al., Nature 2025): the architecture of *Disco103*.

The agent predicts, per state, a policy π(s) (A logits), a vector y(s) (Y logits)
and, per action, z(s, a) (A × Y logits), a one-step policy prediction aux_π(s, a)
(A × A logits) and a categorical action value q(s, a) (A × NB bin logits). After
each rollout the rule computes Retrace action-value targets with a slowly moving
*target* copy of the agent, then a meta-network emits per step the targets

    π̂_t (A logits),  ŷ_t (Y logits),  ẑ_t (Y logits, for the action taken)

and the agent minimises, per step t (shapes (T, B)),

    pi_cost·KL(π̂_t ‖ π(s_t)) + y_cost·KL(ŷ_t ‖ y(s_t)) + z_cost·KL(ẑ_t ‖ z(s_t, a_t))
    + aux_policy_cost·(1 − terminal_t)·KL(sg π(s_{t+1}) ‖ aux_π(s_t, a_t))
    + value_cost·CE(two-hot(h(sg[Q(s_t,a_t) + δ_t])), q(s_t, a_t))

(KL over softmaxes; h the signed hyperbolic transform; δ_t the Retrace TD error).

The meta-network reads 27 features per step (:func:`_construct_input`): the
probabilities of the taken action under the agent, behaviour and target policies,
signed-log rewards, discounts, values and advantages, embeddings of y and z
(through small MLPs shared across actions), and an action-conditional embedding
(a two-layer per-action network that also sees the mean over actions). A backward
LSTM (256) runs over each trajectory, reset at terminal steps; its outputs are
multiplied by a gate computed from a *lifetime* LSTM state (128) that the rule
carries across updates, and the lifetime LSTM is stepped once per update on the
mean of an embedding of the same inputs plus the targets just emitted. Moving
averages of advantages and TD errors normalise inputs across the lifetime.

Everything here is a pure function over pytrees: ``meta_params`` (:func:`init`,
or the published weights through :func:`from_reference`), the rule's state
(:class:`RuleState`, :func:`init_state`) and the rollout (:class:`DiscoInputs`).
Hyper-parameters default to the reference's Disco103 settings
(:class:`DiscoHyper`). Written from the reference's description and code
(google-deepmind/disco_rl); ``tests/test_disco.py`` checks it against outputs of
that code on fixed inputs.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from objectives.base import Objective

KIND = "agent"

PREDICTION_SIZE = 600  # Y, the width of y(s) and z(s, a)
NUM_BINS = 601  # categorical value bins over [-MAX_ABS_VALUE, MAX_ABS_VALUE]
MAX_ABS_VALUE = 300.0
TRAJ_HIDDEN = 256  # the backward, per-trajectory LSTM
META_HIDDEN = 128  # the lifetime LSTM
NUM_BASE_FEATURES = 23
NUM_ACTION_FEATURES = 9
NUM_FEATURES = NUM_BASE_FEATURES + 4  # + the action-conditional embedding, averaged and at the action taken


@dataclasses.dataclass(frozen=True)
class DiscoHyper:
    """Disco103's own hyper-parameters (the reference's ``get_settings_disco().hyper_params``, with its
    update rule's moving averages): the loss weights, the target-network coefficient, Retrace λ and the
    discount. The agent it trains has its own settings (replay, batch, network widths, update clip:
    ``metalearn.inner.disco_agent.DiscoAgentConfig``, the reference's ``net_settings`` and optimiser).
    """

    pi_cost: float = 1.0
    y_cost: float = 1.0
    z_cost: float = 1.0
    value_cost: float = 0.2
    aux_policy_cost: float = 1.0
    target_params_coeff: float = 0.9  # target ← coeff·target + (1 − coeff)·params, once per update
    td_lambda: float = 0.95
    discount: float = 0.997
    ema_decay: float = 0.99
    ema_eps: float = 1e-6

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
                raise ValueError(f"DiscoHyper.{f.name}={v!r} is invalid; allowed: a finite number >= 0")
        for name in ("target_params_coeff", "td_lambda", "discount", "ema_decay"):
            if getattr(self, name) > 1:
                raise ValueError(f"DiscoHyper.{name}={getattr(self, name)!r} is invalid; allowed: 0 <= value <= 1")


class AgentOut(NamedTuple):
    """The agent's outputs, leading dims (...): logits (..., A), y (..., Y), z (..., A, Y),
    aux_pi (..., A, A), q (..., A, NB)."""

    logits: jax.Array
    y: jax.Array
    z: jax.Array
    aux_pi: jax.Array
    q: jax.Array


class DiscoInputs(NamedTuple):
    """One rollout of T steps in B streams, with the bootstrap step (T + 1 observations).

    actions:          (T+1, B) int, the action taken at each observation (the last is unused
                      by the targets but the agent's outputs there bootstrap).
    rewards:          (T, B) reward after action t.
    is_terminal:      (T, B) bool, action t ended an episode (observation t+1 starts a new one).
    agent_out:        :class:`AgentOut` of the current agent, leaves (T+1, B, ...).
    behaviour_logits: (T+1, B, A) the logits that chose the actions (≠ agent's for replayed data).
    target_out:       :class:`AgentOut` of the target agent (``aux_pi`` unused), leaves (T+1, B, ...).
    """

    actions: jax.Array
    rewards: jax.Array
    is_terminal: jax.Array
    agent_out: AgentOut
    behaviour_logits: jax.Array
    target_out: AgentOut


class Ema(NamedTuple):
    """Debiased moving averages of a scalar's first and second moments."""

    moment1: jax.Array
    moment2: jax.Array
    decay_product: jax.Array


class RuleState(NamedTuple):
    """What the rule carries across an agent's updates: the lifetime LSTM and two moving averages."""

    hidden: jax.Array  # (META_HIDDEN,)
    cell: jax.Array  # (META_HIDDEN,)
    adv_ema: Ema
    td_ema: Ema


def init_state() -> RuleState:
    zero = jnp.zeros((), jnp.float32)
    ema = Ema(zero, zero, jnp.ones((), jnp.float32))
    return RuleState(jnp.zeros((META_HIDDEN,)), jnp.zeros((META_HIDDEN,)), ema, ema)


# ---------------------------------------------------------------------------------------------
# Meta-parameters: our names, and the reference's haiku paths they are published under.
# ---------------------------------------------------------------------------------------------

# our path -> (reference key without "/w" or "/b", the weight's shape). Conv1D kernels of width 1
# are stored by the reference as (1, in, out); ours drop the leading 1.
_META = "lstm/~/meta_lstm/~unroll"
LAYOUT: dict[str, tuple[str, tuple[int, int]]] = {
    "y_embed/l0": ("lstm/mlp/~/linear_0", (PREDICTION_SIZE, 16)),
    "y_embed/l1": ("lstm/mlp/~/linear_1", (16, 1)),
    "z_embed/l0": ("lstm/mlp_1/~/linear_0", (PREDICTION_SIZE, 16)),
    "z_embed/l1": ("lstm/mlp_1/~/linear_1", (16, 1)),
    "action_embed/l0": ("lstm/sequential/conv1_d", (2 * NUM_ACTION_FEATURES, 16)),
    "action_embed/l1": ("lstm/sequential/conv1_d_1", (32, 2)),
    "traj_lstm": ("lstm/lstm/linear", (NUM_FEATURES + TRAJ_HIDDEN, 4 * TRAJ_HIDDEN)),
    "lifetime_gate": ("lstm/linear", (META_HIDDEN, TRAJ_HIDDEN)),
    "meta_input_head": ("lstm/linear_1", (TRAJ_HIDDEN, 1)),
    "y_head": ("lstm/linear_2", (TRAJ_HIDDEN, PREDICTION_SIZE)),
    "z_head": ("lstm/linear_3", (TRAJ_HIDDEN, PREDICTION_SIZE)),
    "pi_body": ("lstm/sequential_1/conv1_d", (2 * (TRAJ_HIDDEN + 2), 16)),
    "pi_head": ("lstm/linear_4", (16, 1)),
    "lifetime/y_embed/l0": (f"{_META}/mlp/~/linear_0", (PREDICTION_SIZE, 16)),
    "lifetime/y_embed/l1": (f"{_META}/mlp/~/linear_1", (16, 1)),
    "lifetime/z_embed/l0": (f"{_META}/mlp_1/~/linear_0", (PREDICTION_SIZE, 16)),
    "lifetime/z_embed/l1": (f"{_META}/mlp_1/~/linear_1", (16, 1)),
    "lifetime/action_embed/l0": (f"{_META}/sequential/conv1_d", (2 * NUM_ACTION_FEATURES, 16)),
    "lifetime/action_embed/l1": (f"{_META}/sequential/conv1_d_1", (32, 2)),
    "lifetime/embed": (f"{_META}/mlp_2/~/linear_0", (NUM_FEATURES + 2, 16)),
    "lifetime/lstm": (f"{_META}/lstm/linear", (16 + META_HIDDEN, 4 * META_HIDDEN)),
}
# The reference initialises these output layers with truncated normals of these deviations;
# every other weight is haiku's default (truncated normal with stddev 1/sqrt(fan_in)).
_INIT_STDDEV = {"lifetime_gate": 1.0, "meta_input_head": 0.3, "y_head": 0.3, "z_head": 0.3, "pi_head": 0.3}


def _set(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split("/")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def init(rng: jax.Array) -> dict:
    """Random meta-parameters in the reference's initialisation (weights truncated normal, biases 0)."""
    params: dict = {}
    for key, (path, (_, (fan_in, out))) in zip(jax.random.split(rng, len(LAYOUT)), LAYOUT.items(), strict=True):
        std = _INIT_STDDEV.get(path, 1.0 / np.sqrt(fan_in))
        # haiku's TruncatedNormal: a unit normal truncated to [-2, 2], rescaled so its stddev is `std`.
        w = jax.random.truncated_normal(key, -2.0, 2.0, (fan_in, out), jnp.float32) * (std / 0.87962566)
        _set(params, path, {"w": w, "b": jnp.zeros((out,), jnp.float32)})
    return params


def from_reference(arrays: Mapping[str, np.ndarray], source: str = "the file") -> dict:
    """Meta-parameters from the reference's flat arrays (keys such as ``lstm/linear/w``).

    Raises ``ValueError`` naming the missing, unexpected or misshapen arrays.
    """
    expected = {f"{ref}/{p}" for ref, _ in LAYOUT.values() for p in ("w", "b")}
    missing = sorted(expected - set(arrays))
    extra = sorted(set(arrays) - expected)
    if missing or extra:
        raise ValueError(
            f"{source} is not a Disco103-architecture rule: missing arrays {missing or 'none'}, "
            f"unexpected arrays {extra or 'none'}; expected the {len(expected)} arrays "
            f"{', '.join(sorted(expected))}"
        )
    params: dict = {}
    for path, (ref, (fan_in, out)) in LAYOUT.items():
        w = np.asarray(arrays[f"{ref}/w"])
        b = np.asarray(arrays[f"{ref}/b"])
        if w.shape == (1, fan_in, out):  # a width-1 Conv1D kernel
            w = w[0]
        if w.shape != (fan_in, out) or b.shape != (out,):
            raise ValueError(
                f"{source}: array {ref}/w has shape {w.shape} and {ref}/b {b.shape}; "
                f"expected ({fan_in}, {out}) and ({out},)"
            )
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise ValueError(f"{source}: array {ref} holds non-finite values (NaN/inf)")
        _set(params, path, {"w": jnp.asarray(w, jnp.float32), "b": jnp.asarray(b, jnp.float32)})
    return params


PUBLISHED = Path(__file__).parent / "published" / "disco_103.npz"
PUBLISHED_NAMES = {"disco103": PUBLISHED}


def load_published(name_or_path: str | Path = "disco103") -> dict:
    """The published Disco103 meta-parameters (``"disco103"``), or a reference-format ``.npz``'s.

    The file is plain float32 arrays keyed by the reference's haiku paths (no pickle); see
    ``objectives/published/NOTICE.md`` for its origin and licences.
    """
    path = PUBLISHED_NAMES.get(str(name_or_path), Path(name_or_path))
    if not path.is_file():
        raise ValueError(f"no published Disco weights {str(name_or_path)!r}; known: {', '.join(PUBLISHED_NAMES)}")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a plain .npz of arrays ({err})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a plain .npz of arrays (a single {type(loaded).__name__})")
    try:
        with loaded as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as err:  # e.g. an object array inside
        raise ValueError(f"{path}: not a plain .npz of arrays ({err})") from None
    return from_reference(arrays, source=str(path))


# ---------------------------------------------------------------------------------------------
# Small pieces.
# ---------------------------------------------------------------------------------------------


def _linear(p: dict, x: jax.Array) -> jax.Array:
    return x @ p["w"] + p["b"]


def _mlp(p: dict, x: jax.Array) -> jax.Array:
    """Linear layers ``l0, l1, …`` with ReLU between them (none after the last)."""
    n = len(p)
    for i in range(n):
        x = _linear(p[f"l{i}"], x)
        if i < n - 1:
            x = jax.nn.relu(x)
    return x


def _action_block(p: dict, x: jax.Array) -> jax.Array:
    """Per action, relu(W·[x_a, mean_a' x_a'] + b): (..., A, C) -> (..., A, O)."""
    mean = jnp.broadcast_to(jnp.mean(x, axis=-2, keepdims=True), x.shape)
    return jax.nn.relu(_linear(p, jnp.concatenate([x, mean], axis=-1)))


def _action_net(p: dict, x: jax.Array) -> jax.Array:
    for i in range(len(p)):
        x = _action_block(p[f"l{i}"], x)
    return x


def lstm_cell(gated: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """haiku's LSTM cell from its gate pre-activations (..., 4H) in order (i, g, f, o); forget bias +1.
    Returns (h, c), each (..., H)."""
    i, g, f, o = jnp.split(gated, 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def _lstm_step(p: dict, h: jax.Array, c: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM step whose gates are one linear map of [x, h]."""
    return lstm_cell(_linear(p, jnp.concatenate([x, h], axis=-1)), c)


def _select(x: jax.Array, actions: jax.Array) -> jax.Array:
    """x[t, b, actions[t, b]]: (T, B, A, ...) -> (T, B, ...)."""
    idx = actions.astype(jnp.int32).reshape(actions.shape + (1,) * (x.ndim - actions.ndim))
    return jnp.take_along_axis(x, idx, axis=actions.ndim).squeeze(actions.ndim)


def _td_pair(x: jax.Array) -> jax.Array:
    """[x_t, x_{t+1}] along the last axis: (T+1, ..., C) -> (T, ..., 2C)."""
    return jnp.concatenate([x[:-1], x[1:]], axis=-1)


def signed_logp1(x: jax.Array) -> jax.Array:
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def signed_hyperbolic(x: jax.Array, eps: float = 1e-3) -> jax.Array:
    """h(x) = sign(x)(√(|x|+1) − 1) + εx, which squashes returns for the value head."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1.0) - 1.0) + eps * x


def signed_parabolic(x: jax.Array, eps: float = 1e-3) -> jax.Array:
    """h⁻¹, the inverse of :func:`signed_hyperbolic`."""
    z = jnp.sqrt(1.0 + 4.0 * eps * (eps + 1.0 + jnp.abs(x))) / 2.0 / eps - 1.0 / 2.0 / eps
    return jnp.sign(x) * (jnp.square(z) - 1.0)


def _support() -> jax.Array:
    return jnp.linspace(-MAX_ABS_VALUE, MAX_ABS_VALUE, NUM_BINS)


def bins_to_value(logits: jax.Array) -> jax.Array:
    """The scalar value of categorical value logits, h⁻¹(E[bin]): (..., NB) -> (...)."""
    return signed_parabolic(jnp.sum(jax.nn.softmax(logits, axis=-1) * _support(), axis=-1))


def two_hot(x: jax.Array) -> jax.Array:
    """x spread over its two nearest bins (as rlax, whose 1e-5 keeps an exact bin one-hot): (...) -> (..., NB)."""
    x = jnp.clip(x, -MAX_ABS_VALUE, MAX_ABS_VALUE)
    pos = (x + MAX_ABS_VALUE) / (2 * MAX_ABS_VALUE) * (NUM_BINS - 1)
    lo, hi = jnp.floor(pos), jnp.ceil(pos)
    lo_v = lo / (NUM_BINS - 1.0) * (2 * MAX_ABS_VALUE) - MAX_ABS_VALUE
    hi_v = hi / (NUM_BINS - 1.0) * (2 * MAX_ABS_VALUE) - MAX_ABS_VALUE
    p_lo = (hi_v - x) / (hi_v - lo_v + 1e-5)
    lo_hot, hi_hot = (jax.nn.one_hot(i.astype(jnp.int32), NUM_BINS) for i in (lo, hi))
    return lo_hot * p_lo[..., None] + hi_hot * (1.0 - p_lo)[..., None]


def categorical_kl(p_logits: jax.Array, q_logits: jax.Array) -> jax.Array:
    """KL(softmax p ‖ softmax q) over the last axis."""
    p = jax.nn.softmax(p_logits, axis=-1)
    return jnp.sum(p * (jax.nn.log_softmax(p_logits, axis=-1) - jax.nn.log_softmax(q_logits, axis=-1)), axis=-1)


def _ema_update(ema: Ema, x: jax.Array, decay: float) -> Ema:
    return Ema(
        decay * ema.moment1 + (1.0 - decay) * jnp.mean(x),
        decay * ema.moment2 + (1.0 - decay) * jnp.mean(jnp.square(x)),
        ema.decay_product * decay,
    )


def _ema_normalise(ema: Ema, x: jax.Array, eps: float, subtract_mean: bool = True) -> jax.Array:
    debias = 1.0 / (1.0 - ema.decay_product)  # moments start at 0, as in Adam
    mean = ema.moment1 * debias
    var = jnp.maximum(0.0, ema.moment2 * debias - jnp.square(mean))
    centred = x - mean if subtract_mean else x
    return centred / (jnp.sqrt(var + 1e-12) + eps)


# ---------------------------------------------------------------------------------------------
# Value targets (Retrace over categorical action values).
# ---------------------------------------------------------------------------------------------


class ValueOut(NamedTuple):
    """Scalar value quantities for one rollout (all stop-gradient w.r.t. the targets they feed)."""

    value: jax.Array  # (T+1, B)  V(s) = Σ_a π(a|s) Q(s, a), agent
    q_value: jax.Array  # (T+1, B, A) agent's Q
    target_q_value: jax.Array  # (T+1, B, A) target agent's Q
    q_target: jax.Array  # (T, B) Retrace target for Q(s_t, a_t)
    q_td: jax.Array  # (T, B) q_target − Q(s_t, a_t)
    adv: jax.Array  # (T, B) q_target − V_target(s_t)
    qv_adv: jax.Array  # (T+1, B, A) Q_target(s, a) − V_target(s)


def value_targets(x: DiscoInputs, hyper: DiscoHyper) -> ValueOut:
    """Retrace (λ·min(1, ρ) traces) from the target agent's categorical Q-values."""
    pi = jax.nn.softmax(x.agent_out.logits, axis=-1)
    q = bins_to_value(x.agent_out.q)  # (T+1, B, A)
    tq = bins_to_value(x.target_out.q)
    v = jnp.sum(pi * q, axis=-1)
    tv = jnp.sum(pi * tq, axis=-1)  # the target's values under the *agent's* policy, as the reference
    a = x.actions[:-1]
    log_pi = _select(jax.nn.log_softmax(x.agent_out.logits[:-1], axis=-1), a)
    log_mu = _select(jax.nn.log_softmax(x.behaviour_logits[:-1], axis=-1), a)
    trace = hyper.td_lambda * jnp.minimum(jax.lax.stop_gradient(jnp.exp(log_pi - log_mu)), 1.0)
    discounts = (1.0 - x.is_terminal.astype(jnp.float32)) * hyper.discount
    tq_a = _select(tq[:-1], a)  # (T, B)

    # G_t = r_t + γ_t·(V(s_{t+1}) + c_{t+1}·(G_{t+1} − Q(s_{t+1}, a_{t+1}))), with G_{T-1} bootstrapping V(s_T).
    last = x.rewards[-1] + discounts[-1] * tv[-1]

    def step(g_next, xs):
        r, d, v_next, c_next, q_next = xs
        g = r + d * (v_next - c_next * q_next + c_next * g_next)
        return g, g

    _, earlier = jax.lax.scan(step, last, (x.rewards[:-1], discounts[:-1], tv[1:-1], trace[1:], tq_a[1:]), reverse=True)
    q_target = jax.lax.stop_gradient(jnp.concatenate([earlier, last[None]], axis=0))
    return ValueOut(
        value=v,
        q_value=q,
        target_q_value=tq,
        q_target=q_target,
        q_td=q_target - _select(q[:-1], a),
        adv=q_target - tv[:-1],
        qv_adv=tq - tv[..., None],
    )


# ---------------------------------------------------------------------------------------------
# The meta-network.
# ---------------------------------------------------------------------------------------------


class _Probs(NamedTuple):
    """Softmaxes of the agent's and target's outputs, computed once for both sets of input nets."""

    pi: jax.Array  # (T+1, B, A) agent
    mu: jax.Array  # (T+1, B, A) behaviour
    target_pi: jax.Array  # (T+1, B, A)
    y: jax.Array  # (T+1, B, Y)
    target_y: jax.Array
    z: jax.Array  # (T+1, B, A, Y)
    target_z: jax.Array


def _probs(x: DiscoInputs) -> _Probs:
    sm = lambda v: jax.nn.softmax(v, axis=-1)
    sg = jax.lax.stop_gradient
    return _Probs(
        sg(sm(x.agent_out.logits)),
        sg(sm(x.behaviour_logits)),
        sg(sm(x.target_out.logits)),
        sm(x.agent_out.y),
        sm(x.target_out.y),
        sm(x.agent_out.z),
        sm(x.target_out.z),
    )


def _construct_input(p: dict, x: DiscoInputs, probs: _Probs, extra: dict) -> tuple[jax.Array, jax.Array]:
    """(features (T, B, NUM_FEATURES), action embedding (T, B, A, 2)) with one set of input nets ``p``."""
    a = x.actions[:-1]
    sg = jax.lax.stop_gradient
    policy = probs.pi  # (T+1, B, A)
    num_actions = policy.shape[-1]

    def prob_taken(pr):  # (T+1, B, A) -> (T, B, 1)
        return _select(pr[:-1], a)[..., None]

    def z_feats(z):  # (T+1, B, A, Y) probabilities -> per-action embedding and its three base features
        e = _mlp(p["z_embed"], z)  # (T+1, B, A, 1)
        taken = _select(e[:-1], a)  # (T, B, 1)
        pi_avg = jnp.sum(e * policy[..., None], axis=2)  # (T+1, B, 1)
        return e, [taken, _td_pair(pi_avg), _td_pair(jnp.max(e, axis=2))]

    z_agent, agent_z_feats = z_feats(probs.z)
    z_target, target_z_feats = z_feats(probs.target_z)
    base = [
        prob_taken(probs.pi),
        prob_taken(probs.mu),
        signed_logp1(x.rewards)[..., None],
        1.0 - x.is_terminal.astype(jnp.float32)[..., None],
        sg(_td_pair(signed_logp1(extra["v_scalar"])[..., None])),
        sg(signed_logp1(extra["adv"])[..., None]),
        sg(extra["normalized_adv"][..., None]),
        prob_taken(probs.target_pi),
        _td_pair(_mlp(p["y_embed"], probs.y)),
        _td_pair(_mlp(p["y_embed"], probs.target_y)),
        *agent_z_feats,
        *target_z_feats,
    ]
    per_action = [
        probs.pi[:-1, ..., None],
        probs.mu[:-1, ..., None],
        probs.target_pi[:-1, ..., None],
        z_agent[:-1],
        z_target[:-1],
        sg(signed_logp1(extra["q"])[:-1][..., None]),
        sg(signed_logp1(extra["qv_adv"])[:-1][..., None]),
        sg(extra["normalized_qv_adv"][:-1][..., None]),
        jax.nn.one_hot(a, num_actions, dtype=jnp.float32)[..., None],
    ]
    emb = _action_net(p["action_embed"], jnp.concatenate(per_action, axis=-1))  # (T, B, A, 2)
    base += [jnp.mean(emb, axis=2), _select(emb, a)]
    return jnp.concatenate(base, axis=-1), emb


def _backward_lstm(p: dict, feats: jax.Array, reset: jax.Array) -> jax.Array:
    """LSTM run from the last step to the first, its state zeroed before each terminal step: (T, B, F) -> (T, B, H)."""
    hidden = p["w"].shape[1] // 4
    zeros = jnp.zeros((feats.shape[1], hidden), feats.dtype)

    def step(carry, xs):
        h, c = carry
        x_t, reset_t = xs
        h = jnp.where(reset_t[:, None], 0.0, h)
        c = jnp.where(reset_t[:, None], 0.0, c)
        h, c = _lstm_step(p, h, c, x_t)
        return (h, c), h

    _, hs = jax.lax.scan(step, (zeros, zeros), (feats, reset), reverse=True)
    return hs


class Targets(NamedTuple):
    """What the rule hands the agent for one rollout, (T, B, ...)."""

    pi: jax.Array  # (T, B, A) logits π̂
    y: jax.Array  # (T, B, Y) logits ŷ
    z: jax.Array  # (T, B, Y) logits ẑ, for the action taken
    values: ValueOut  # its q_td (not normalised) drives the value loss
    normalized_adv: jax.Array  # (T, B)
    normalized_qv_adv: jax.Array  # (T+1, B, A)
    normalized_q_td: jax.Array  # (T, B)
    meta_input_emb: jax.Array  # (T, B, 1)


def targets(
    meta_params: dict, x: DiscoInputs, state: RuleState, hyper: DiscoHyper = DiscoHyper()
) -> tuple[Targets, RuleState]:
    """The rule on one rollout: its targets, and its state after this update."""
    vals = value_targets(x, hyper)
    adv_ema = _ema_update(state.adv_ema, vals.adv, hyper.ema_decay)
    td_ema = _ema_update(state.td_ema, vals.q_td, hyper.ema_decay)
    extra = {
        "v_scalar": vals.value,
        "adv": vals.adv,
        "normalized_adv": _ema_normalise(adv_ema, vals.adv, hyper.ema_eps),
        "q": vals.target_q_value,
        "qv_adv": vals.qv_adv,
        "normalized_qv_adv": _ema_normalise(adv_ema, vals.qv_adv, hyper.ema_eps),
    }

    probs = _probs(x)
    feats, act_emb = _construct_input(meta_params, x, probs, extra)
    hs = _backward_lstm(meta_params["traj_lstm"], feats, x.is_terminal)
    hs = hs * _linear(meta_params["lifetime_gate"], state.hidden)  # condition on the lifetime state
    meta_input_emb = _linear(meta_params["meta_input_head"], hs)
    y_hat = _linear(meta_params["y_head"], hs)
    z_hat = _linear(meta_params["z_head"], hs)
    num_actions = act_emb.shape[2]
    w = jnp.concatenate([jnp.repeat(hs[:, :, None], num_actions, axis=2), act_emb], axis=-1)
    pi_hat = _linear(meta_params["pi_head"], _action_block(meta_params["pi_body"], w))[..., 0]

    # Step the lifetime LSTM once, on the mean embedding of this rollout's inputs and targets.
    lp = meta_params["lifetime"]
    meta_feats, _ = _construct_input(lp, x, probs, extra)
    summary = jnp.concatenate([meta_feats, meta_input_emb, _mlp(lp["y_embed"], jax.nn.softmax(y_hat, axis=-1))], -1)
    summary = jnp.mean(_linear(lp["embed"], summary), axis=(0, 1))
    hidden, cell = _lstm_step(lp["lstm"], state.hidden, state.cell, summary)

    out = Targets(
        pi=pi_hat,
        y=y_hat,
        z=z_hat,
        values=vals,
        normalized_adv=extra["normalized_adv"],
        normalized_qv_adv=extra["normalized_qv_adv"],
        normalized_q_td=_ema_normalise(td_ema, vals.q_td, hyper.ema_eps, subtract_mean=False),
        meta_input_emb=meta_input_emb,
    )
    return out, RuleState(hidden, cell, adv_ema, td_ema)


class LossTerms(NamedTuple):
    """Per-step loss terms, each (T, B), already weighted by the hyper-parameters' costs."""

    pi: jax.Array
    y: jax.Array
    z: jax.Array
    aux_policy: jax.Array
    value: jax.Array

    def total(self) -> jax.Array:
        return self.pi + self.y + self.z + self.aux_policy + self.value


def agent_loss(x: DiscoInputs, tg: Targets, hyper: DiscoHyper = DiscoHyper()) -> LossTerms:
    """The agent's per-step losses; differentiate through ``x.agent_out`` (targets are held constant)."""
    a = x.actions[:-1]
    out = x.agent_out
    pi_hat, y_hat, z_hat = jax.lax.stop_gradient((tg.pi, tg.y, tg.z))
    aux_target = jax.lax.stop_gradient(out.logits[1:])
    aux = categorical_kl(aux_target, _select(out.aux_pi[:-1], a)) * (1.0 - x.is_terminal.astype(jnp.float32))

    q_a = _select(out.q[:-1], a)  # (T, B, NB)
    value_target = jax.lax.stop_gradient(bins_to_value(q_a) + tg.values.q_td)
    value_ce = -jnp.sum(two_hot(signed_hyperbolic(value_target)) * jax.nn.log_softmax(q_a, axis=-1), axis=-1)
    return LossTerms(
        pi=hyper.pi_cost * categorical_kl(pi_hat, out.logits[:-1]),
        y=hyper.y_cost * categorical_kl(y_hat, out.y[:-1]),
        z=hyper.z_cost * categorical_kl(z_hat, _select(out.z[:-1], a)),
        aux_policy=hyper.aux_policy_cost * aux,
        value=hyper.value_cost * value_ce,
    )


def update_target(target_params, params, hyper: DiscoHyper = DiscoHyper()):
    """The target agent after one update: coeff·target + (1 − coeff)·params."""
    c = hyper.target_params_coeff
    return jax.tree.map(lambda old, new: c * old + (1.0 - c) * new, target_params, params)


# The rule interface (see objectives/__init__.py).
AGENT = "disco"  # the agent this rule brings: metalearn.inner.AGENTS["disco"] (metalearn/inner/disco_agent.py)


def to_objective(**hyper) -> Objective:
    """The rule for the engine: kind ``"agent"``, bringing the agent :data:`AGENT`, with its
    :class:`DiscoHyper` (``Objective.hyper``). That agent (heads y, z, aux_π, q; a target copy; replay)
    is trained by its own learning step, not PPO/A2C's; its settings are the agent's own."""
    return Objective(kind=KIND, agent=AGENT, hyper=DiscoHyper(**hyper))


# Its keywords are DiscoHyper's fields: say so in its signature, which the rule registry reads to route
# and type-check a rule's keyword arguments.
to_objective.__signature__ = inspect.Signature(
    [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in dataclasses.fields(DiscoHyper)
    ]
)
