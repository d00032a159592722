"""Pins XLA's CPU instruction-set target, so a seed gives the same bits on every project machine.

XLA compiles CPU code for the machine it runs on: with FMA (AVX2 and up) its elementwise math
rounds differently than without, and it sums a reduction in as many lanes as the vector registers
hold (8 floats with AVX2, 16 with AVX-512). So the same program and seed trained a different agent
on an AVX-512 machine than on an AVX2 one (PPO on CartPole: 255.55 / 259.11 / 258.44 across three
machines; measured in ``bench/determinism.py``, ``bench/results/determinism.md``). Thread counts
did not change the bits there.

:func:`pin` (called by ``import metalearn``) adds ``--xla_cpu_max_isa=AVX2`` to ``XLA_FLAGS``:
every project machine has AVX2, and on an AVX2 machine it equals XLA's default. XLA reads
``XLA_FLAGS`` when jax creates its CPU backend (the first computation, not ``import jax``), so the
pin works as long as metalearn is imported before anything runs. A ``--xla_cpu_max_isa`` the user
set is kept; ``METALEARN_XLA_CPU_ISA=native`` turns the pin off (XLA's default: the machine's own
ISA), any other value there (``SSE4_2``, ``AVX``, ``AVX2``, ``AVX512`` ...) pins that level. Only
x86-64 is pinned. JAX's persistent compilation cache keys include ``XLA_FLAGS``, so executables
compiled without the pin are not reused under it.

This module imports nothing from metalearn (it runs first in ``metalearn/__init__.py``).
"""

from __future__ import annotations

import os
import platform
import re
import sys
import warnings
from pathlib import Path

ENV_VAR = "METALEARN_XLA_CPU_ISA"
DEFAULT_ISA = "AVX2"
NATIVE = "native"
# The levels XLA's --xla_cpu_max_isa knows on x86 (cpu_features.cc; it ignores unknown ones with a warning).
ISAS = ("SSE4_2", "AVX", "AVX2", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX")
_FLAG = re.compile(r"(?:^|\s)--?xla_cpu_max_isa(?:=(\S*)|(?=\s|$))")


def isa_in_xla_flags(xla_flags: str | None = None) -> str | None:
    """The ``--xla_cpu_max_isa`` value in ``xla_flags`` (default: ``$XLA_FLAGS``), or None if it sets none."""
    match = _FLAG.search(os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags)
    return None if match is None else (match.group(1) or "")


def requested_isa() -> str:
    """The ISA level metalearn pins: ``$METALEARN_XLA_CPU_ISA`` (validated) or :data:`DEFAULT_ISA`."""
    value = os.environ.get(ENV_VAR, "").strip() or DEFAULT_ISA
    if value.lower() == NATIVE:
        return NATIVE
    if value.upper() not in ISAS:
        raise ValueError(f"{ENV_VAR}={value!r} is not an XLA CPU ISA level; allowed: {NATIVE} | {' | '.join(ISAS)}")
    return value.upper()


def _backend_started() -> bool:
    """Whether jax already created its backends (then XLA has read its flags for this process)."""
    if "jax" not in sys.modules:  # jax not imported: no backend yet
        return False
    try:
        from jax._src import xla_bridge  # private, so guarded: without it we cannot tell, and assume not

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return False


def pin() -> str | None:
    """Adds ``--xla_cpu_max_isa=<level>`` to ``XLA_FLAGS`` unless the user set one or opted out.

    Returns the level this process's XLA will use (None: the machine's own). If jax's backend
    already exists, XLA_FLAGS is left alone (changing it then would only put a flag into
    the compilation cache's keys that the compiled code does not have) and a warning says so.
    """
    user = isa_in_xla_flags()
    if user is not None:  # the user's choice wins
        return user or None
    isa = requested_isa()
    if isa == NATIVE or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    if _backend_started():
        warnings.warn(
            f"metalearn was imported after jax started its backend, so XLA compiles CPU code for this machine's "
            f"own ISA and results may differ from other machines' bits; import metalearn before running any jax "
            f"computation, or set XLA_FLAGS=--xla_cpu_max_isa={isa} yourself",
            stacklevel=3,
        )
        return None
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_max_isa={isa}".strip()
    return isa


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, Linux), or ``unknown``: the kind of machine XLA compiled for, which
    decides the bits a CPU run produces (results and fingerprints record it)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")
