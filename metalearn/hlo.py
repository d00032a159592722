"""What a compiled XLA program runs: its launch-like operations, read from the optimized HLO text.

On an accelerator every top-level operation of a computation (a fusion, a copy, a scatter, a loop) is a
kernel launch; on CPU a thunk. Counting them in the program XLA:CPU compiles is a proxy, checkable
without a GPU, for what a step costs where launches dominate (bench/results/gpu/: an OPEN step on an
H200 was launch-bound up to ~340k parameters).

    counts = launch_ops(jax.jit(f).lower(*args).compile().as_text())          # the entry computation
    counts = launch_ops(text, loop_body=True)   # the body of the entry's largest while loop (a scan's step)
    shapes = Counter(map(result_shape, launched(text)))                      # what each one writes

Parameters, constants, tuples, tuple reads and bitcasts move no data and launch nothing: not counted.
A nested loop counts once, as ``while``.
"""

from __future__ import annotations

import re
from collections import Counter

NOT_LAUNCHED = frozenset({"parameter", "constant", "tuple", "get-tuple-element", "bitcast"})
_OPCODE = re.compile(r"\s([a-z][a-z0-9\-]*)\(")
_BODY = re.compile(r"\bbody=(%[\w.\-]+)")
_CALLED = re.compile(r"\bto_apply=(%[\w.\-]+)")


def computations(text: str) -> dict[str, list[str]]:
    """Each computation's name (``ENTRY`` for the entry) -> its instruction lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if current is None:
            head = line.split(" ", 2)
            if line.startswith("ENTRY "):
                current = "ENTRY"
            elif line.startswith("%") and line.rstrip().endswith("{"):
                current = head[0]
            if current is not None:
                out[current] = []
        elif line.startswith("}"):
            current = None
        elif "=" in line:
            out[current].append(line)
    return out


def opcode(line: str) -> str:
    """The opcode of one HLO instruction line (``%x = f32[3]{0} add(%a, %b)`` -> ``add``)."""
    match = _OPCODE.search(line.split("=", 1)[1])
    if match is None:
        raise ValueError(f"no opcode in HLO line {line.strip()[:120]!r}")
    return match.group(1)


def result_shape(line: str) -> str:
    """The result type of one HLO instruction line without its layout (``f32[16,16]``; tuples as written)."""
    return re.sub(r"\{[^}]*\}", "", line.split("=", 1)[1].strip().split(" ", 1)[0])


def launched(text: str, loop_body: bool = False) -> list[str]:
    """The launch-like instruction lines of the entry computation, or with ``loop_body`` of the body of
    the entry's largest while loop (the step of a ``lax.scan``; a random draw's loop is smaller)."""
    comps = computations(text)
    lines = comps["ENTRY"]
    if loop_body:
        bodies = [comps[_BODY.search(loop).group(1)] for loop in _loops(comps, "ENTRY")]
        if not bodies:
            raise ValueError("the entry computation has no while loop (compile a lax.scan over the steps)")
        lines = max(bodies, key=len)
    return [line for line in lines if opcode(line) not in NOT_LAUNCHED]


def _loops(comps: dict[str, list[str]], name: str) -> list[str]:
    """The while instructions of computation ``name`` and of the computations it calls (XLA:CPU wraps a small
    loop in a ``call``)."""
    out = []
    for line in comps[name]:
        op = opcode(line)
        if op == "while":
            out.append(line)
        elif op == "call" and (called := _CALLED.search(line)):
            out.extend(_loops(comps, called.group(1)))
    return out


def launch_ops(text: str, loop_body: bool = False) -> Counter:
    """Opcode -> count of :func:`launched` operations."""
    return Counter(map(opcode, launched(text, loop_body)))
