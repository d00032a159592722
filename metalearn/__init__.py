"""metalearn: discover reinforcement-learning algorithms with evolution strategies."""

from metalearn.xla_cpu import pin as _pin_xla_cpu_isa

# First, before any submodule can start jax's backend: the same seed gives the same bits on every
# x86 machine only when XLA compiles for one instruction set (see metalearn/xla_cpu.py).
_pin_xla_cpu_isa()

__version__ = "0.1.0"
