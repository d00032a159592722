"""objectives.expression (the safe expression grammar) and objectives.symbolic (a drift written as one).

Independent checks: numpy evaluating the same formula; one-sided finite differences in float64 for
the directional derivative; the drift invariants (f ≥ 0, f(1, A) = 0, zero one-sided slopes at r = 1)
for random expressions drawn by hypothesis, including kinks (max, min, abs) at r = 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalearn.rules import make_rule
from objectives import ObjectiveInputs, symbolic
from objectives.expression import directional, evaluate, literals, parse, size, to_text, variables

R = np.linspace(0.4, 2.5, 13)
A = np.linspace(-3.0, 3.0, 13)


def value(text: str, env: dict, c=None):
    tree = parse(text)
    return np.asarray(evaluate(tree, jnp.asarray(literals(tree) if c is None else c), env))


def test_evaluates_like_numpy():
    text = "0.5 * (r - 1 - log(r)) * abs(A) + max(r - 1.2, 0)^2 - 3e-1 * -A + tanh(2*A) / (1 + r) - 2**-r"
    expected = (
        0.5 * (R - 1 - np.log(R)) * np.abs(A) + np.maximum(R - 1.2, 0) ** 2 + 0.3 * A + np.tanh(2 * A) / (1 + R)
    ) - 2.0 ** (-R)
    np.testing.assert_allclose(value(text, {"r": R, "A": A}), expected, rtol=1e-5)
    # precedence: unary minus binds looser than ^ (−2² = −4), ^ is right-associative (2^3^2 = 2^9)
    np.testing.assert_allclose(value("-2^2 + 2^3^2", {}), -4 + 512)
    assert literals(parse("3 * r + 0.25 - 1e2")) == [3.0, 0.25, 100.0]
    assert variables(parse("exp(r) * A + 1")) == {"r", "A"} and size(parse("r + 1")) == 3


def test_constants_come_from_c():
    text = "2 * r + 1"
    np.testing.assert_allclose(value(text, {"r": R}, c=[3.0, -1.0]), 3 * R - 1, rtol=1e-6)


@pytest.mark.parametrize(
    "text, message",
    [
        ("r +", "expected more but found the end"),
        ("foo(r)", "unknown function 'foo'"),
        ("max(r)", r"max takes 2 argument"),
        ("r + q", "unknown variable 'q'"),
        ("r $ 2", "cannot read"),
        ("(r + 1", r"expected \)"),
        ("r 2", "unexpected '2'"),
        ("__import__('os')", "cannot read"),
    ],
)
def test_bad_text_fails_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text, ("r", "A"))


def test_refuses_non_text_and_huge_text():
    with pytest.raises(ValueError, match="not text"):
        parse(3.0)
    with pytest.raises(ValueError, match="at most"):
        parse("r + " * 2000 + "r")


# --------------------------------------------------------------- random expressions (hypothesis)
LEAVES = st.one_of(
    st.sampled_from(["r", "A", "(r - 1)", "log(r)", "A^2", "(r - 1)^3"]),
    st.floats(-2.0, 2.0, allow_nan=False).map(lambda v: f"{v:.3f}" if v >= 0 else f"(-{-v:.3f})"),
)


def _extend(children):
    unary = st.tuples(st.sampled_from(["tanh", "abs", "square", "neg"]), children).map(
        lambda t: f"(-{t[1]})" if t[0] == "neg" else f"{t[0]}({t[1]})"
    )
    binary = st.tuples(st.sampled_from(["+", "-", "*", "max", "min"]), children, children).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})" if t[0] in ("max", "min") else f"({t[1]} {t[0]} {t[2]})"
    )
    return st.one_of(unary, binary)


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(EXPRESSIONS)
def test_text_round_trip_keeps_the_value(text):
    tree = parse(text)
    again = parse(to_text(tree))
    env = {"r": R, "A": A}
    np.testing.assert_allclose(value(to_text(tree), env), value(text, env), rtol=1e-5, atol=1e-5)
    assert variables(again) == variables(tree)


@settings(max_examples=40, deadline=None)
@given(EXPRESSIONS, st.sampled_from([1.0, -1.0]))
def test_directional_derivative_is_the_one_sided_limit(text, direction):
    """D_s e(1) against (e(1 + s·h) − e(1)) / h in float64, at kinks too (max(r − 1, 0) at r = 1)."""
    tree = parse(text)
    with jax.enable_x64(True):
        c = jnp.asarray(literals(tree), jnp.float64)
        env = {"r": jnp.ones(13, jnp.float64), "A": jnp.asarray(A, jnp.float64)}
        e1, d = directional(tree, c, env, "r", direction)
        h = 1e-7
        stepped = evaluate(tree, c, {**env, "r": env["r"] + direction * h})
        fd = (np.asarray(stepped) - np.asarray(e1)) / h
    np.testing.assert_allclose(np.asarray(d), fd, rtol=1e-3, atol=1e-4 * (1 + np.abs(fd).max()))


def drift(text: str, r, a, c=None):
    tree = symbolic.parse(text)
    c = jnp.asarray(literals(tree) if c is None else c)
    x = ObjectiveInputs(r, a, jnp.log(r), jnp.zeros_like(r), jnp.float32(0.3), jnp.float32(100.0))
    return symbolic.symbolic_drift(tree, c, r, a, x)


@settings(max_examples=40, deadline=None)
@given(EXPRESSIONS)
def test_drift_invariants_hold_for_any_expression(text):
    """f ≥ 0 everywhere, f(1, A) = 0, and |f(1 ± h)| / h → 0 on both sides (float64, h = 1e-6)."""
    a = jnp.asarray(np.tile(A, 2))
    with jax.enable_x64(True):
        r = jnp.asarray(np.concatenate([R, R[::-1]]), jnp.float64)
        f = np.asarray(drift(text, r, a.astype(jnp.float64)))
        assert np.all(f[np.isfinite(f)] >= 0)
        ones = jnp.ones_like(a, jnp.float64)
        assert np.all(np.asarray(drift(text, ones, a.astype(jnp.float64))) == 0)
        for side in (1.0, -1.0):
            near = np.asarray(drift(text, ones + side * 1e-6, a.astype(jnp.float64)))
            assert np.all(near / 1e-6 <= 1e-3), (text, side, near.max())


def test_powers_of_negative_values_keep_a_finite_slope():
    """A^2 with A < 0: the exponent's tangent term (log of a negative base) must not poison the slope."""
    f = np.asarray(drift("(r - 1)^2 * A^2 + r * A^3", jnp.asarray(R), jnp.asarray(A)))
    e = (R - 1) ** 2 * A**2 + R * A**3
    np.testing.assert_allclose(f, np.maximum(e - A**3 - (R - 1) * A**3, 0), rtol=1e-5, atol=1e-5)


def test_drift_gradient_is_zero_at_ratio_one():
    """What the trainer's first minibatch sees (r = 1 exactly): the drift adds nothing to the policy gradient."""
    text = "max((r - 1) * A, 0) + 0.7 * abs(r - 1) * A^2 + tanh(3 * (r - 1))"
    for a in (-2.0, 0.5, 2.0):
        g = jax.grad(lambda r, a=a: drift(text, r[None], jnp.asarray([a]))[0])(jnp.float32(1.0))
        assert g == 0.0


def test_symbolic_drift_rule_from_its_text():
    rule = make_rule("symbolic_drift", expression="0.5 * (r - 1 - log(r))")
    mp = rule.init(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(mp["c"], [0.5, 1.0])
    r = jnp.asarray(R, jnp.float32)
    x = ObjectiveInputs(r, jnp.asarray(A), jnp.log(r), jnp.zeros_like(r), jnp.float32(0.0), jnp.float32(10.0))
    # this e is convex with e(1) = e'(1) = 0, so the anchored drift is e itself; loss = −(r·A − f)
    np.testing.assert_allclose(rule.objective(mp, x), -(R * A - 0.5 * (R - 1 - np.log(R))), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown variable 'x'"):
        make_rule("symbolic_drift", expression="x * r")
