"""What a meta-training run will cost, measured before it starts: ``metalearn plan``.

Compiles one generation (and one evaluation of the rule), reads XLA's memory
analysis of each, refuses if either would not fit in the device's memory, then
runs a generation once to warm up and ``repeats`` more times to time it (or
times a smaller version of the config and scales by environment steps, for
configs too big to run here: ``time_at``, ``metalearn plan --time-small``).
Projections to bigger populations and budgets are linear in environment steps
(what a saturated device does; an accelerator running a small population is
not saturated, so there they are upper bounds) and, for memory, linear in the
members (ES) or agents per chunk (meta-gradients) held at once.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import numpy as np

from metalearn.meta.config import MetaConfig
from metalearn.meta.regime import Regime
from metalearn.meta.registry import make_meta_trainer


@dataclasses.dataclass(frozen=True)
class Memory:
    """XLA's memory analysis of one compiled function, bytes."""

    arguments: int
    outputs: int
    temp: int
    aliased: int
    code: int

    @property
    def peak(self) -> int:
        """Live at once: arguments, outputs and temporaries (donated buffers counted once) and the code."""
        return self.arguments + self.outputs + self.temp - self.aliased + self.code


@dataclasses.dataclass(frozen=True)
class Plan:
    """One generation of ``config`` measured on ``device``; times in seconds, memory in bytes."""

    config: MetaConfig
    device: str
    env_steps: int  # per generation (inner trainings, and curriculum baselines/antagonists)
    compile_seconds: float  # the generation's
    warmup_seconds: float  # its first run
    seconds: float  # per generation after warm-up (median of the timed runs)
    timed: int  # timed runs after warm-up (0: ``seconds`` is the warm-up's)
    eval_compile_seconds: float
    eval_seconds: float  # one evaluation of the rule (every ``eval_every`` generations)
    memory: Memory  # the generation's
    eval_memory: Memory
    available: int | None  # device memory free for it, bytes (None: unknown)
    who: str  # who trains in a generation (the regime's ``describe``)
    scale: float = 1.0  # times measured on a config with 1/scale of the env steps, then scaled (``time_at``)

    @property
    def evaluations(self) -> int:
        """Evaluations in the run: every ``eval_every`` generations and after the last."""
        g, every = self.config.generations, self.config.eval_every
        return g // every + (g % every != 0)

    @property
    def total_seconds(self) -> float:
        """The run's projected wall time: its generations and evaluations (compilation excluded)."""
        return self.scaled()[1]

    @property
    def peak(self) -> int:
        return max(self.memory.peak, self.eval_memory.peak)

    def scaled(self, population: float = 1.0, budget: float = 1.0) -> tuple[float, float, int]:
        """(seconds per generation, total seconds, peak bytes) projected for ``population`` and ``budget`` times
        the members (agents) and the inner environment steps: time linear in env steps, the generation's
        temporaries linear in members held at once, arguments and outputs (the search state) unchanged."""
        factor = population * budget
        seconds = self.seconds * factor
        total = self.config.generations * seconds + self.evaluations * self.eval_seconds * budget
        m = self.memory
        peak = m.arguments + m.outputs - m.aliased + m.code + int(m.temp * population)
        return seconds, total, max(peak, self.eval_memory.peak)


def available_memory(device: Any) -> int | None:
    """Bytes ``device`` can still allocate: an accelerator's limit minus what is in use; on CPU the host's
    available memory (``MemAvailable``); None if neither can be read."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu() -> str:
    """``cpu (N cores)``: what one generation on this host ran on."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu ({n} core{'s' if n != 1 else ''})"


def _memory(compiled: Any) -> Memory:
    m = compiled.memory_analysis()
    if m is None:  # a backend without the analysis
        return Memory(0, 0, 0, 0, 0)
    return Memory(
        int(m.argument_size_in_bytes),
        int(m.output_size_in_bytes),
        int(m.temp_size_in_bytes),
        int(m.alias_size_in_bytes),
        int(m.generated_code_size_in_bytes),
    )


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def _compile(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - start


def _eval_env_steps(trainer: Regime) -> int:
    """Environment steps of one evaluation of the rule: ``eval_seeds`` trainings on every task and held-out task."""
    configs = [t.trainer.config for t in (*trainer.tasks, *trainer.held_out)]
    return trainer.config.eval_seeds * sum(c.num_updates * c.batch_size for c in configs)


def _compiled(trainer: Regime) -> tuple[Any, Any, Any, tuple, float, float]:
    """(state, generation, evaluation, its arguments, compile seconds of each) of ``trainer``, compiled ahead."""
    state = trainer.init()
    generation, compile_seconds = _compile(trainer.generation, state)
    args = (trainer.mean_params(state), trainer.eval_key(0))
    evaluate, eval_compile = _compile(trainer.evaluate_rule, *args)
    return state, generation, evaluate, args, compile_seconds, eval_compile


def plan(
    config: MetaConfig, repeats: int = 1, trainer: Regime | None = None, time_at: MetaConfig | None = None
) -> Plan:
    """Measures one generation of ``config`` (see the module's docstring). Raises ValueError, before running
    anything, if the generation or the evaluation would need more memory than the device has free.

    ``time_at``: a smaller version of ``config`` (fewer members, a shorter inner budget) whose generation and
    evaluation are timed instead, their times scaled by the ratio of environment steps; compilation and memory
    are still ``config``'s own. For configs too big to run a generation of on this machine.
    """
    if not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"repeats={repeats!r} is invalid; allowed: an integer >= 0")
    trainer = make_meta_trainer(config) if trainer is None else trainer
    device = jax.devices()[0]
    state, generation, evaluate, eval_args, compile_seconds, eval_compile = _compiled(trainer)
    memory, eval_memory = _memory(generation), _memory(evaluate)
    available = available_memory(device)
    for what, m in (("one generation", memory), ("one evaluation of the rule", eval_memory)):
        if available is not None and m.peak > available:
            raise ValueError(
                f"{what} needs {_size(m.peak)} (XLA's memory analysis: arguments {_size(m.arguments)}, temporaries "
                f"{_size(m.temp)}), more than the {_size(available)} free on {device.platform} ({device}); allowed: "
                f"a config that fits, e.g. {trainer.smaller()}"
            )
    scale = eval_scale = 1.0
    if time_at is not None:
        small = make_meta_trainer(time_at)
        state, generation, evaluate, eval_args, _, _ = _compiled(small)
        scale = trainer.env_steps_per_generation() / small.env_steps_per_generation()
        eval_scale = _eval_env_steps(trainer) / _eval_env_steps(small)
    (state, _), warmup = _timed(generation, state)
    times = []
    for _ in range(repeats):
        (state, _), seconds = _timed(generation, state)
        times.append(seconds)
    _, eval_seconds = _timed(evaluate, *eval_args)
    return Plan(
        config=config,
        device=f"{jax.device_count()} x {device.device_kind}" if device.platform != "cpu" else f"{_cpu()}",
        env_steps=trainer.env_steps_per_generation(),
        compile_seconds=compile_seconds,
        warmup_seconds=warmup * scale,
        seconds=(float(np.median(times)) if times else warmup) * scale,
        timed=repeats,
        eval_compile_seconds=eval_compile,
        eval_seconds=eval_seconds * eval_scale,
        memory=memory,
        eval_memory=eval_memory,
        available=available,
        scale=scale,
        who=trainer.describe(),
    )


def _size(n: float) -> str:
    """Bytes in B, KiB, MiB, GiB or TiB."""
    unit = 0
    while abs(n) >= 1024 and unit < 4:
        n, unit = n / 1024, unit + 1
    return f"{n:.0f} B" if unit == 0 else f"{n:.1f} {('KiB', 'MiB', 'GiB', 'TiB')[unit - 1]}"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 2 * 3600:
        return f"{s / 60:.1f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def format_plan(p: Plan, name: str) -> str:
    """The plan as the CLI prints it."""
    c = p.config
    timed = f"median of {p.timed} after a warm-up of {p.warmup_seconds:.2f} s" if p.timed else "the warm-up run"
    if p.scale != 1.0:
        timed += f"; timed at 1/{p.scale:,.0f} of the env steps and scaled"
    free = "unknown free" if p.available is None else f"{_size(p.available)} free"
    lines = [
        f"plan: {name} ({c.regime}, rule {c.rule.name}, {p.who}, {len(c.tasks)} task(s)) on {p.device}",
        f"  env steps per generation: {p.env_steps:,}",
        f"  compile: generation {p.compile_seconds:.1f} s, evaluation {p.eval_compile_seconds:.1f} s",
        f"  seconds per generation: {p.seconds:.3f} ({timed}); {p.env_steps / max(p.seconds, 1e-9):,.0f} env steps/s",
        f"  evaluation of the rule: {p.eval_seconds:.3f} s, {p.evaluations} time(s) (every {c.eval_every})",
        f"  projected total: {c.generations} generations -> {_duration(p.total_seconds)} (compilation excluded)",
        f"  peak memory (XLA): generation {_size(p.memory.peak)} (arguments {_size(p.memory.arguments)}, "
        f"temporaries {_size(p.memory.temp)}), evaluation {_size(p.eval_memory.peak)}; {free}",
        "  bigger (linear projections):",
    ]
    for label, population, budget in (
        ("2x population", 2, 1),
        ("4x population", 4, 1),
        ("2x inner budget", 1, 2),
        ("4x inner budget", 1, 4),
    ):
        seconds, total, peak = p.scaled(population, budget)
        fits = "" if p.available is None or peak <= p.available else "  (would not fit)"
        lines.append(
            f"    {label:<16} {seconds:10.3f} s/generation  total {_duration(total):>10}  peak {_size(peak)}{fits}"
        )
    return "\n".join(lines)


def to_json(p: Plan, name: str) -> dict[str, Any]:
    """The plan as a JSON-able record."""
    return {
        "experiment": name,
        "device": p.device,
        "env_steps_per_generation": p.env_steps,
        "compile_seconds": p.compile_seconds,
        "warmup_seconds": p.warmup_seconds,
        "seconds_per_generation": p.seconds,
        "timed_runs": p.timed,
        "timed_at_scale": p.scale,
        "eval_compile_seconds": p.eval_compile_seconds,
        "eval_seconds": p.eval_seconds,
        "evaluations": p.evaluations,
        "generations": p.config.generations,
        "projected_total_seconds": p.total_seconds,
        "memory": dataclasses.asdict(p.memory) | {"peak": p.memory.peak},
        "eval_memory": dataclasses.asdict(p.eval_memory) | {"peak": p.eval_memory.peak},
        "available_bytes": p.available,
        "config": p.config.to_dict(),
    }


__all__ = ["Memory", "Plan", "available_memory", "format_plan", "plan", "to_json"]
