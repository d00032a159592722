"""Write ``tests/fixtures/disco103_reference.npz``: numbers from DeepMind's own Disco103 code, for our port.

The fixture lets a test check our port of the DiscoRL update rule "Disco103" (and of its agent network)
against the reference implementation, google-deepmind/disco_rl at commit 9059a29, without that package
installed. This script imports the reference package ``disco_rl`` and calls its code (no reference code
is copied here), so it runs ONLY in a throwaway virtual env with the reference installed, never in the
project's ``.venv``. Build that env outside the repo (PyPI must be reachable; the sources are the
reference's tree at 9059a29, e.g. ``git --git-dir=<clone>/.git archive 9059a29 | tar -x -C /tmp/disco_ref_src``):

    python3 -m venv /tmp/disco_ref_venv
    /tmp/disco_ref_venv/bin/pip install jax==0.8.1 jaxlib==0.8.1 dm-haiku==0.0.17 rlax==0.1.9 distrax==0.1.9 \
        optax==0.2.8 chex==0.1.92 numpy==2.4.6 ml_collections==1.1.0 jmp==0.0.4 immutabledict==4.3.1 \
        dm-env==1.6 dm-tree==0.1.10 tfp-nightly==0.26.0.dev20261027
    /tmp/disco_ref_venv/bin/pip install /tmp/disco_ref_src

These are the versions the committed fixture was made with (Python 3.11.7, CPU). jax is pinned back on
purpose: from jax 0.8.2 on (0.8.2, 0.8.3, 0.9.x, 0.10.x were tried), ``isinstance(tracer, chex.Array)``
is False, so the reference's ``assert isinstance(logits, chex.Array)`` in ``meta_nets.LSTM`` fails under
``jax.jit`` (the reference's agent jits its learner step); 0.8.1 works and was current when 9059a29 was
committed (December 2025). Then, from the repo root:

    taskset -c 1 /tmp/disco_ref_venv/bin/python experiments/scripts/disco103_reference_fixture.py

Options: ``--weights`` (default ``../shared/disco_weights/disco_103.npz`` beside the repo, the same file
as ``disco_rl/update_rules/weights/disco_103.npz`` in the reference, which ``pip install`` does not
ship) and ``--out`` (default ``tests/fixtures/disco103_reference.npz``). The run takes under a minute on
one CPU core and is deterministic (same arrays bit for bit on every run). Everything is computed under
``jax.jit``, as the reference's agent runs it; run eagerly (``jax.disable_jit()``) the numbers differ by
up to about 2e-5 relative (7.7e-4 absolute on Q-values of about 40), which is the scale of tolerance a
comparison with another implementation needs.

What is in the fixture (flat keys, '/' separators; float32 unless said; T=4 steps, B=2, A=3 actions,
prediction size 600, 601 value bins; all settings from ``disco_rl.agent.get_settings_disco()``):

* ``in1/...``: the inputs of update 1, drawn from ``np.random.default_rng(0)``: ``actions`` [T+1,B] int32,
  ``rewards`` [T,B], ``is_terminal`` [T,B] bool, ``agent_out/{logits,y,z,aux_pi,q}`` [T+1,B,...],
  ``behaviour_agent_out/logits`` and ``target_out/{logits,y,z,q}`` (what the target network returns: the
  rule's ``unroll_policy_fn`` is a fake that ignores its arguments and returns it). ``in2/{actions,rewards,
  is_terminal}``: update 2's new inputs (its agent, behaviour and target outputs are update 1's).
* ``meta_state{0,1,2}/...``: the rule's state before update 1 (``init_meta_state(PRNGKey(0), ...)``) and
  after updates 1 and 2: ``rnn_state/{hidden,cell}`` [128], ``adv_ema/...`` and ``td_ema/...``
  ``{moment1,moment2,decay_product}`` (scalars). ``target_params`` is left out (dummy agent params).
* ``out{1,2}/<key>``: ``DiscoUpdateRule.unroll_meta_net``'s outputs for every key in ``meta/out_keys``.
* ``extra{1,2}/<key>``: the value quantities the rule feeds its meta-network (``rollout.extra_from_rule``
  less ``target_out``): ``v_scalar`` [T+1,B], ``adv``/``normalized_adv`` [T,B], ``q``/``qv_adv``/
  ``normalized_qv_adv`` [T+1,B,A].
* ``loss1/agent_loss``, ``loss1/no_meta`` [T,B]: update 1's per-step ``agent_loss(..., backprop=False)`` and
  ``agent_loss_no_meta``; ``loss1/log/<key>``: both losses' logged scalars.
* ``grad1/agent_out/<key>``: the gradient of sum over (t, b) of (agent_loss + no_meta) with respect to each
  of update 1's agent outputs, with update 1's meta-net outputs held fixed.
* ``net/...``: the reference agent network ('mlp', dense (32, 32), the 'lstm' action model with
  head_mlp_hiddens (16,), lstm_size 16, head_w_init_std 1e-2, A=3): ``net/params/<module path>/<name>``
  from ``init(PRNGKey(1), net/obs, zeros[B] bool)``, ``net/obs`` [B,10,5], ``net/out/<key>`` (one step),
  ``net/unroll_obs`` [3,B,10,5], ``net/unroll_should_reset`` [3,B] bool and ``net/unroll_out/<key>``.
* ``meta/...``: ``reference_commit``, ``versions``, ``shapes``, ``out_keys``, ``weights_sha256`` (strings)
  and ``hyper_params/<name>`` (the Disco103 hyper-parameters used, float32 scalars).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import haiku as hk
import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import rlax
from disco_rl import agent as disco_agent
from disco_rl import types
from disco_rl.networks import nets
from disco_rl.update_rules import disco
from dm_env import specs as dm_specs

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WEIGHTS = REPO.parent / "shared" / "disco_weights" / "disco_103.npz"
DEFAULT_OUT = REPO / "tests" / "fixtures" / "disco103_reference.npz"

REFERENCE_COMMIT = "9059a29"
T, B, A = 4, 2, 3
REWARD_VALUES = np.array([-1.0, 0.0, 0.0, 1.0, 2.5], np.float32)


def unflatten_params(flat) -> dict:
    """As in the reference colab ``colabs/eval.ipynb``: 'a/b/w' -> params['a/b']['w']."""
    params: dict = {}
    for key_wb in flat.files:
        key, name = key_wb.rsplit("/", 1)
        params.setdefault(key, {})[name] = jnp.asarray(flat[key_wb])
    return params


def draw_is_terminal(rng: np.random.Generator) -> np.ndarray:
    """[T, B] bool with at least two True, not all in the last step (redrawn until so)."""
    while True:
        x = rng.random((T, B)) < 0.3
        if x.sum() >= 2 and x[:-1].any():
            return x


def draw_q_logits(rng: np.random.Generator, num_bins: int) -> np.ndarray:
    """[T+1, B, A, bins] logits: N(0, 1) noise plus +10 at one bin near the middle (value 0).

    The bump's bin is a random centre in 298..302 (one per array) plus an offset in -2..2 per
    (t, b, a), so the expected values (after the rule's signed-hyperbolic inverse, which turns a raw
    expected bin value x into roughly (|x| + 1)^2 - 1) are a few units to a few tens (within ±50 here)
    and differ across actions and steps.
    """
    q = rng.normal(size=(T + 1, B, A, num_bins)).astype(np.float32)
    centre = int(rng.integers(298, 303))
    offset = rng.integers(-2, 3, size=(T + 1, B, A))
    np.put_along_axis(q, (centre + offset)[..., None], np.take_along_axis(q, (centre + offset)[..., None], -1) + 10, -1)
    return q


def draw_rewards(rng: np.random.Generator) -> np.ndarray:
    """[T, B] rewards from {-1, 0, 0, 1, 2.5}, with at least one negative and one positive (redrawn until so)."""
    while True:
        r = rng.choice(REWARD_VALUES, size=(T, B)).astype(np.float32)
        if (r < 0).any() and (r > 0).any():
            return r


def draw_update_inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "actions": rng.integers(0, A, size=(T + 1, B)).astype(np.int32),
        "rewards": draw_rewards(rng),
        "is_terminal": draw_is_terminal(rng),
    }


def draw_outputs(rng: np.random.Generator, pred: int, num_bins: int, aux_pi: bool) -> dict[str, np.ndarray]:
    out = {
        "logits": rng.normal(size=(T + 1, B, A)).astype(np.float32),
        "y": rng.normal(scale=0.5, size=(T + 1, B, pred)).astype(np.float32),
        "z": rng.normal(scale=0.5, size=(T + 1, B, A, pred)).astype(np.float32),
    }
    if aux_pi:
        out["aux_pi"] = rng.normal(size=(T + 1, B, A, A)).astype(np.float32)
    out["q"] = draw_q_logits(rng, num_bins)
    return out


def make_rollout(inputs, agent_out, behaviour_logits) -> types.UpdateRuleInputs:
    return types.UpdateRuleInputs(
        observations=jnp.zeros((T + 1, B, 1), jnp.float32),  # unread by the rule (only by unroll_policy_fn)
        actions=jnp.asarray(inputs["actions"]),
        rewards=jnp.asarray(inputs["rewards"]),
        is_terminal=jnp.asarray(inputs["is_terminal"]),
        agent_out={k: jnp.asarray(v) for k, v in agent_out.items()},
        behaviour_agent_out={"logits": jnp.asarray(behaviour_logits)},
        value_out=None,
    )


def flatten_meta_state(meta_state) -> dict[str, np.ndarray]:
    # rnn_state is haiku state: {'lstm': {'meta_rnn_state': LSTMState(hidden, cell)}}.
    lstm = meta_state["rnn_state"]["lstm"]["meta_rnn_state"]
    out = {"rnn_state/hidden": lstm.hidden, "rnn_state/cell": lstm.cell}
    for name in ("adv_ema", "td_ema"):
        ema = meta_state[f"{name}_state"]
        for field in ("moment1", "moment2", "decay_product"):
            out[f"{name}/{field}"] = getattr(ema, field)
    return {k: np.asarray(v) for k, v in out.items()}


def update_rule_part(fx: dict, meta_params) -> None:
    settings = disco_agent.get_settings_disco()
    rule = disco.DiscoUpdateRule(**settings.update_rule)
    hyper_params = settings.hyper_params.to_dict()
    pred = settings.update_rule.net.prediction_size
    num_bins = settings.update_rule.num_bins

    # The weights must fit the meta-network the settings build.
    init_params, _ = rule.init_params(jax.random.PRNGKey(0))
    shapes = lambda p: jax.tree.map(lambda x: tuple(x.shape), p)
    assert shapes(init_params) == shapes(meta_params), "Disco103 weights do not fit the settings' meta-network"

    rng = np.random.default_rng(0)
    in1 = draw_update_inputs(rng)
    agent_out = draw_outputs(rng, pred, num_bins, aux_pi=True)
    behaviour_logits = rng.normal(size=(T + 1, B, A)).astype(np.float32)
    target_out = draw_outputs(rng, pred, num_bins, aux_pi=False)
    in2 = draw_update_inputs(rng)

    for k, v in in1.items():
        fx[f"in1/{k}"] = v
    for k, v in agent_out.items():
        fx[f"in1/agent_out/{k}"] = v
    fx["in1/behaviour_agent_out/logits"] = behaviour_logits
    for k, v in target_out.items():
        fx[f"in1/target_out/{k}"] = v
    for k, v in in2.items():
        fx[f"in2/{k}"] = v

    dummy_params = {"w": jnp.zeros((2,), jnp.float32)}
    target_out_j = {k: jnp.asarray(v) for k, v in target_out.items()}

    def fake_unroll_policy_fn(params, state, observations, should_reset):
        del params, observations, should_reset
        return target_out_j, state

    @jax.jit
    def run_update(meta_state, inputs):
        rollout = make_rollout(inputs, agent_out, behaviour_logits)
        meta_out, new_meta_state = rule.unroll_meta_net(
            meta_params=meta_params,
            params=dummy_params,
            state={},
            meta_state=meta_state,
            rollout=rollout,
            hyper_params=hyper_params,
            unroll_policy_fn=fake_unroll_policy_fn,
            rng=jax.random.PRNGKey(0),
            axis_name=None,
        )
        # unroll_meta_net sets rollout.extra_from_rule in place: the value inputs its meta-net read.
        extra = {k: v for k, v in rollout.extra_from_rule.items() if k != "target_out"}
        meta_out = {k: v for k, v in meta_out.items() if k != "target_out"}
        return meta_out, new_meta_state, extra

    meta_state0 = rule.init_meta_state(jax.random.PRNGKey(0), dummy_params)
    meta_out1, meta_state1, extra1 = run_update(meta_state0, in1)
    meta_out2, meta_state2, extra2 = run_update(meta_state1, in2)

    for k, ms in enumerate((meta_state0, meta_state1, meta_state2)):
        for name, v in flatten_meta_state(ms).items():
            fx[f"meta_state{k}/{name}"] = v
    out_keys = sorted(meta_out1)
    fx["meta/out_keys"] = np.array(out_keys)
    for i, (mo, ex) in enumerate(((meta_out1, extra1), (meta_out2, extra2)), start=1):
        for key in out_keys:
            fx[f"out{i}/{key}"] = np.asarray(mo[key])
        for key, v in ex.items():
            fx[f"extra{i}/{key}"] = np.asarray(v)

    # Update 1's agent losses, and their gradient with respect to the agent's outputs (meta_out fixed).
    def losses(agent_out_j):
        rollout = make_rollout(in1, agent_out_j, behaviour_logits)
        loss, log = rule.agent_loss(rollout, meta_out1, hyper_params, backprop=False)
        no_meta, log_no_meta = rule.agent_loss_no_meta(rollout, meta_out1, hyper_params)
        return loss, no_meta, log, log_no_meta

    agent_out_j = {k: jnp.asarray(v) for k, v in agent_out.items()}
    loss, no_meta, log, log_no_meta = jax.jit(losses)(agent_out_j)
    fx["loss1/agent_loss"] = np.asarray(loss)
    fx["loss1/no_meta"] = np.asarray(no_meta)
    assert not set(log) & set(log_no_meta)
    for key, v in sorted((log | log_no_meta).items()):
        fx[f"loss1/log/{key}"] = np.asarray(v)

    def total(agent_out_j):
        loss, no_meta, _, _ = losses(agent_out_j)
        return jnp.sum(loss + no_meta)

    grads = jax.jit(jax.grad(total))(agent_out_j)
    for key, g in grads.items():
        fx[f"grad1/agent_out/{key}"] = np.asarray(g)

    for key, v in hyper_params.items():
        fx[f"meta/hyper_params/{key}"] = np.asarray(v, np.float32)


def network_part(fx: dict) -> None:
    settings = disco_agent.get_settings_disco()
    rule = disco.DiscoUpdateRule(**settings.update_rule)
    action_spec = dm_specs.BoundedArray((), np.int32, 0, A - 1)  # as the reference's jittable envs spec it
    network = nets.get_network(
        "mlp",
        action_spec=action_spec,
        out_spec=rule.flat_output_spec(action_spec),
        model_out_spec=rule.model_output_spec(action_spec),
        dense=(32, 32),
        model_arch_name="lstm",
        head_w_init_std=1e-2,
        model_kwargs=dict(head_mlp_hiddens=(16,), lstm_size=16),
    )
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(B, 10, 5)).astype(np.float32)
    should_reset = np.zeros((B,), bool)
    params, state = network.init(jax.random.PRNGKey(1), obs, should_reset)
    for module, named in params.items():
        for name, v in named.items():
            fx[f"net/params/{module}/{name}"] = np.asarray(v)
    fx["net/obs"] = obs
    out, _ = jax.jit(network.one_step)(params, state, obs, should_reset)
    for key, v in out.items():
        fx[f"net/out/{key}"] = np.asarray(v)

    unroll_obs = rng.normal(size=(3, B, 10, 5)).astype(np.float32)
    unroll_should_reset = np.array([[False, False], [False, True], [True, False]])
    fx["net/unroll_obs"] = unroll_obs
    fx["net/unroll_should_reset"] = unroll_should_reset
    unroll_out, _ = jax.jit(network.unroll)(params, state, unroll_obs, unroll_should_reset)
    for key, v in unroll_out.items():
        fx[f"net/unroll_out/{key}"] = np.asarray(v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    with np.load(args.weights) as flat:
        meta_params = unflatten_params(flat)
    fx: dict[str, np.ndarray] = {}
    update_rule_part(fx, meta_params)
    network_part(fx)
    fx["meta/reference_commit"] = np.array(REFERENCE_COMMIT)
    fx["meta/versions"] = np.array(
        f"jax={jax.__version__} jaxlib={jaxlib.__version__} haiku={hk.__version__} "
        f"rlax={rlax.__version__} numpy={np.__version__}"
    )
    fx["meta/shapes"] = np.array(f"T={T} B={B} A={A}")
    fx["meta/weights_sha256"] = np.array(hashlib.sha256(args.weights.read_bytes()).hexdigest())

    for key, v in fx.items():
        assert v.dtype != object, key
        if v.dtype == np.float64:
            fx[key] = v.astype(np.float32)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **fx)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(fx)} arrays)")


if __name__ == "__main__":
    main()
