"""metalearn.hlo: reading launch-like operations out of compiled XLA programs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from metalearn.hlo import launch_ops, opcode, result_shape


def test_opcodes_and_shapes_of_hlo_lines():
    line = "  %while.28 = (s32[], u32[8]{0}, /*index=2*/u32[]) while(%tuple.18), condition=%c, body=%b"
    assert opcode(line) == "while"
    assert opcode("  ROOT %add.1 = f32[3,4]{1,0} add(%a, %b)") == "add"
    assert result_shape("  %f = f32[3,4]{1,0} fusion(%a), kind=kLoop") == "f32[3,4]"
    with pytest.raises(ValueError, match="no opcode in HLO line"):
        opcode("  %x = f32[3]")


def test_a_scan_body_is_counted_apart_from_the_entry():
    """Two independent elementwise chains over arrays of different sizes cannot share a fusion: two operations
    per step of the loop, and a third that counts the steps; the entry holds the loop itself."""

    def run(a, b):
        def step(carry, _):
            x, y = carry
            return (jnp.sin(x) * 2.0, jnp.cos(y) + 1.0), None

        return jax.lax.scan(step, (a, b), None, length=200)[0]  # long enough that XLA keeps the loop

    text = jax.jit(run).lower(jnp.ones(64), jnp.ones(32)).compile().as_text()
    assert launch_ops(text)["while"] + launch_ops(text)["call"] == 1  # XLA:CPU may wrap a small loop in a call
    body = launch_ops(text, loop_body=True)
    assert body.total() == 3 and set(body) == {"fusion"}, body
    with pytest.raises(ValueError, match="no while loop"):
        launch_ops(jax.jit(jnp.sin).lower(jnp.ones(4)).compile().as_text(), loop_body=True)
