"""DiscoRL's update rule (objectives/disco.py) against the reference's own outputs, and its loading.

``tests/fixtures/disco103_reference.npz`` was produced once by the reference code
(google-deepmind/disco_rl at 9059a29) with the published Disco103 weights, by
``experiments/scripts/disco103_reference_fixture.py`` in a throwaway env; these
tests need only our package.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from objectives import disco

FIXTURE = Path(__file__).parent / "fixtures" / "disco103_reference.npz"
ATOL, RTOL = 2e-5, 2e-4


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def meta_params():
    return disco.load_published()


def _out(ref, prefix) -> disco.AgentOut:
    def get(k):
        key = f"{prefix}/{k}"
        return jnp.asarray(ref[key]) if key in ref else None

    return disco.AgentOut(get("logits"), get("y"), get("z"), get("aux_pi"), get("q"))


def _inputs(ref, call: int) -> disco.DiscoInputs:
    agent = _out(ref, "in1/agent_out")
    target = _out(ref, "in1/target_out")
    target = target._replace(aux_pi=jnp.zeros_like(agent.aux_pi))
    return disco.DiscoInputs(
        actions=jnp.asarray(ref[f"in{call}/actions"]),
        rewards=jnp.asarray(ref[f"in{call}/rewards"]),
        is_terminal=jnp.asarray(ref[f"in{call}/is_terminal"]),
        agent_out=agent,
        behaviour_logits=jnp.asarray(ref["in1/behaviour_agent_out/logits"]),
        target_out=target,
    )


def _state(ref, k: int) -> disco.RuleState:
    def ema(name):
        return disco.Ema(*(jnp.asarray(ref[f"meta_state{k}/{name}/{m}"]) for m in disco.Ema._fields))

    return disco.RuleState(
        jnp.asarray(ref[f"meta_state{k}/rnn_state/hidden"]),
        jnp.asarray(ref[f"meta_state{k}/rnn_state/cell"]),
        ema("adv_ema"),
        ema("td_ema"),
    )


def _close(ours, theirs, name, atol=ATOL, rtol=RTOL):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} vs reference {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, atol=atol, rtol=rtol, err_msg=name)


_targets = jax.jit(disco.targets)


def _ours(tg: disco.Targets) -> dict:
    v = tg.values
    return {
        "pi": tg.pi,
        "y": tg.y,
        "z": tg.z,
        "meta_input_emb": tg.meta_input_emb,
        "q_target": v.q_target,
        "adv": v.adv,
        "normalized_adv": tg.normalized_adv,
        "normalized_qv_adv": tg.normalized_qv_adv,
        "qv_adv": v.qv_adv,
        "q_value": v.q_value,
        "q_td": v.q_td,
        "normalized_q_td": tg.normalized_q_td,
    }


@pytest.mark.parametrize("call", [1, 2])
def test_targets_and_state_equal_the_reference(ref, meta_params, call):
    """Two consecutive updates: the second starts from the rule state the first left."""
    state = _state(ref, call - 1) if call == 1 else _targets(meta_params, _inputs(ref, 1), _state(ref, 0))[1]
    tg, new_state = _targets(meta_params, _inputs(ref, call), state)
    ours = _ours(tg)
    compared = [k for k in ours if f"out{call}/{k}" in ref]
    assert {"pi", "y", "z", "q_target", "q_td"} <= set(compared)
    for k in compared:
        _close(ours[k], ref[f"out{call}/{k}"], f"out{call}/{k}")
    expected = _state(ref, call)
    for name, a, b in zip(("hidden", "cell"), new_state[:2], expected[:2], strict=True):
        _close(a, b, f"meta_state{call}/{name}")
    for ema in ("adv_ema", "td_ema"):
        for m in disco.Ema._fields:
            _close(getattr(getattr(new_state, ema), m), getattr(getattr(expected, ema), m), f"{ema}/{m}", rtol=1e-5)


def test_agent_loss_and_its_gradient_equal_the_reference(ref, meta_params):
    x = _inputs(ref, 1)
    tg, _ = _targets(meta_params, x, _state(ref, 0))
    terms = disco.agent_loss(x, tg)
    _close(terms.pi + terms.y + terms.z + terms.aux_policy, ref["loss1/agent_loss"], "agent_loss")
    _close(terms.value, ref["loss1/no_meta"], "value loss")

    def total(agent_out):
        return jnp.sum(disco.agent_loss(x._replace(agent_out=agent_out), tg).total())

    grads = jax.grad(total)(x.agent_out)
    for k in disco.AgentOut._fields:
        _close(getattr(grads, k), ref[f"grad1/agent_out/{k}"], f"grad {k}", atol=1e-5, rtol=1e-3)


def test_published_weights_load_and_fit_the_architecture(meta_params):
    template = disco.init(jax.random.PRNGKey(0))
    assert jax.tree.structure(template) == jax.tree.structure(meta_params)
    for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(meta_params), strict=True):
        assert a.shape == b.shape and b.dtype == jnp.float32
    assert sum(x.size for x in jax.tree.leaves(meta_params)) == 754_778  # as the reference's README states


def test_foreign_or_incomplete_weights_are_refused(tmp_path):
    with np.load(disco.PUBLISHED, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    incomplete = dict(arrays)
    del incomplete["lstm/linear_4/w"]
    with pytest.raises(ValueError, match=r"missing arrays \['lstm/linear_4/w'\]"):
        disco.from_reference(incomplete)
    foreign = {**arrays, "encoder/w": np.zeros((2, 2), np.float32)}
    with pytest.raises(ValueError, match=r"unexpected arrays \['encoder/w'\]"):
        disco.from_reference(foreign)
    misshapen = {**arrays, "lstm/linear_2/w": np.zeros((256, 10), np.float32)}
    with pytest.raises(ValueError, match=r"lstm/linear_2/w has shape \(256, 10\).*expected \(256, 600\)"):
        disco.from_reference(misshapen)
    path = tmp_path / "other.npz"
    np.savez(path, **{"a/w": np.zeros(3)})
    with pytest.raises(ValueError, match="not a Disco103-architecture rule"):
        disco.load_published(path)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"not a plain \.npz"):
        disco.load_published(pickled)
    with pytest.raises(ValueError, match="no published Disco weights 'disco999'; known: disco103"):
        disco.load_published("disco999")


def test_value_transforms_invert_and_two_hot_round_trips():
    x = jnp.linspace(-250.0, 250.0, 1001)
    np.testing.assert_allclose(disco.signed_parabolic(disco.signed_hyperbolic(x)), x, rtol=1e-4, atol=1e-3)
    h = disco.signed_hyperbolic(x)
    probs = disco.two_hot(h)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert int((probs > 0).sum(-1).max()) <= 2
    # Reading the two-hot back gives the scalar (up to rlax's 1e-5 in the split).
    back = jnp.sum(probs * jnp.linspace(-disco.MAX_ABS_VALUE, disco.MAX_ABS_VALUE, disco.NUM_BINS), -1)
    np.testing.assert_allclose(back, h, atol=1e-4)
