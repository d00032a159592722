"""Which XLA CPU settings give the same bits: ISA target and thread counts, on a tiny CartPole PPO.

Run with ``python bench/determinism.py [--quick]``. Each setting runs in a fresh
subprocess (XLA reads ``XLA_FLAGS`` once per process, when it creates its CPU
backend) with JAX's persistent compilation cache off, so an executable compiled
under other flags cannot be loaded. Every worker trains the ``cartpole`` preset
at a tiny budget on a few vmapped seeds and reports the per-seed final returns
as float hex plus a SHA-256 of the final parameters; settings are then grouped
by identical bits. ``METALEARN_XLA_CPU_ISA=native`` is set for every row except
the one that checks the package's own pin, so each row measures XLA itself.
Writes ``bench/results/NAME.json`` and ``NAME.md`` (``--name``, default ``determinism``; the AMD EPYC
machines' are ``determinism``, the Intel Xeon's ``determinism_intel_xeon``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TOTAL_TIMESTEPS = 4 * 128 * 96  # 96 PPO updates of the cartpole preset: seconds on 2 cores, enough for returns to part
SEEDS = 4

# (name, extra XLA_FLAGS, CPUs to pin the process to or None, METALEARN_XLA_CPU_ISA or None)
Setting = tuple[str, str, list[int] | None, str | None]
SETTINGS: list[Setting] = [
    ("default (native)", "", None, "native"),
    ("max_isa=SSE4_2", "--xla_cpu_max_isa=SSE4_2", None, "native"),
    ("max_isa=AVX", "--xla_cpu_max_isa=AVX", None, "native"),
    ("max_isa=AVX2", "--xla_cpu_max_isa=AVX2", None, "native"),
    ("max_isa=AVX512", "--xla_cpu_max_isa=AVX512", None, "native"),
    ("default, 1 CPU (taskset -c 0)", "", [0], "native"),
    ("default, multi_thread_eigen=false", "--xla_cpu_multi_thread_eigen=false", None, "native"),
    ("default, use_xnnpack=false", "--xla_cpu_use_xnnpack=false", None, "native"),
    ("max_isa=AVX2, 1 CPU (taskset -c 0)", "--xla_cpu_max_isa=AVX2", [0], "native"),
    # the worker imports jax before metalearn: these rows also show the pin works in that order
    ("metalearn pin (no flags set)", "", None, None),
    ("metalearn pin, 1 CPU (taskset -c 0)", "", [0], None),
]


def sha(x: Any) -> str:
    import numpy as np

    return hashlib.sha256(np.asarray(x).tobytes()).hexdigest()[:16]


def op_probes() -> dict[str, str]:
    """Hashes of single ops on fixed inputs: which kinds of computation the setting changes."""
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.PRNGKey(0), (4096, 64)) * 3
    w = jax.random.normal(jax.random.PRNGKey(1), (64, 64))
    fns = {
        "tanh": jnp.tanh,
        "exp": jnp.exp,
        "x*a+y*b": lambda x: x * 1.1 + x[::-1] * 0.7,
        "sum over rows": lambda x: (x * x).sum(-1),
        "sum of all": lambda x: (x * 2).sum(),
        "matmul 4096x64x64": lambda x: x @ w,
    }
    return {name: sha(jax.jit(fn)(x)) for name, fn in fns.items()}


def worker(total_timesteps: int, seeds: int) -> dict[str, Any]:
    """Trains ``seeds`` cartpole agents in this process; their final returns and a hash of their parameters."""
    import jax
    import numpy as np

    jax.config.update("jax_enable_compilation_cache", False)  # compile here, under this process's flags

    from metalearn.envs import make_env
    from metalearn.inner import get_preset, make_train

    preset = get_preset("cartpole")
    config = preset.config.replace(total_timesteps=total_timesteps, return_params=True)
    train = jax.jit(jax.vmap(make_train(make_env(preset.env), config), in_axes=(None, 0)))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    start = time.perf_counter()
    result = jax.block_until_ready(train(None, keys))
    seconds = time.perf_counter() - start
    runs = []  # compiled: the training alone, best of 3 (the machine is shared)
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(train(None, keys))
        runs.append(time.perf_counter() - start)
    return {
        "final_return": [float(x).hex() for x in np.asarray(result.final_return)],
        "final_return_repr": [repr(float(x)) for x in np.asarray(result.final_return)],
        "curve_sha256": sha(result.curve),
        "params_sha256": sha(np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(result.params)])),
        "ops_sha256": op_probes(),
        "seconds_compile_and_run": round(seconds, 2),
        "seconds_run": round(min(runs), 3),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
    }


def run_setting(setting: Setting, total_timesteps: int, seeds: int) -> dict[str, Any]:
    """One setting in a fresh process: its worker's output."""
    name, flags, cpus, isa = setting
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "METALEARN_XLA_CPU_ISA")}
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env["JAX_PLATFORMS"] = "cpu"
    if flags:
        env["XLA_FLAGS"] = flags
    if isa is not None:
        env["METALEARN_XLA_CPU_ISA"] = isa
    cmd = [sys.executable, __file__, "--worker", "--total-timesteps", str(total_timesteps), "--seeds", str(seeds)]
    if cpus is not None:
        cmd = ["taskset", "-c", ",".join(map(str, cpus)), *cmd]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return {"setting": name, **json.loads(out.stdout.strip().splitlines()[-1])}


def groups(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Settings grouped by identical bits (per-seed final returns and final parameters)."""
    by_bits: dict[tuple, list[str]] = {}
    for row in rows:
        by_bits.setdefault((tuple(row["final_return"]), row["params_sha256"]), []).append(row["setting"])
    return list(by_bits.values())


def markdown(rows: list[dict[str, Any]], grouped: list[list[str]], meta: dict[str, Any]) -> str:
    label = {name: chr(ord("A") + i) for i, group in enumerate(grouped) for name in group}
    ops = list(rows[0]["ops_sha256"])
    lines = [
        "# Same seed, same bits? XLA CPU settings on a tiny CartPole PPO",
        "",
        f"`bench/determinism.py`: cartpole preset, {meta['total_timesteps']} steps, {meta['seeds']} seeds, "
        f"each setting in a fresh process, persistent compile cache off. CPU: {meta['cpu']} "
        f"({os.cpu_count()} cores; {', '.join(meta['cpu_flags'])}); jax {meta['jax']}. Rows with the same group "
        "letter are bit-identical (per-seed final returns and final parameters). The op columns number the "
        "distinct results of single ops on fixed inputs (1 = the first row's). `run s`: the compiled training, "
        "best of 3.",
        "",
        "| setting | group | final returns (per seed) | params sha256 | " + " | ".join(ops) + " | run s |",
        "|---|---|---|---|" + "---|" * len(ops) + "---|",
    ]
    seen: dict[str, list[str]] = {op: [] for op in ops}
    for row in rows:
        for op, digest in row["ops_sha256"].items():
            if digest not in seen[op]:
                seen[op].append(digest)
        returns = ", ".join(f"{float(r):.6g}" for r in row["final_return_repr"])
        op_ids = " | ".join(str(seen[op].index(row["ops_sha256"][op]) + 1) for op in ops)
        lines.append(
            f"| {row['setting']} | {label[row['setting']]} | {returns} | `{row['params_sha256']}` | {op_ids} "
            f"| {row['seconds_run']} |"
        )
    lines += ["", "Groups of bit-identical settings:", ""]
    lines += [f"- {label[group[0]]}: " + "; ".join(group) for group in grouped]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--total-timesteps", type=int, default=TOTAL_TIMESTEPS)
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--quick", action="store_true", help="a quarter of the budget (does not write results)")
    parser.add_argument(
        "--name", default="determinism", help="results file stem in bench/results/ (one per CPU kind measured)"
    )
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.total_timesteps, args.seeds)))
        return
    total = args.total_timesteps // 4 if args.quick else args.total_timesteps
    rows = []
    for setting in SETTINGS:
        rows.append(run_setting(setting, total, args.seeds))
        print(f"{rows[-1]['setting']:<45} {rows[-1]['params_sha256']} {rows[-1]['final_return_repr']}", flush=True)
    grouped = groups(rows)
    import jax

    from metalearn.xla_cpu import cpu_model

    meta = {"total_timesteps": total, "seeds": args.seeds, "cpu": cpu_model(), "jax": jax.__version__}
    cpu_flags = sorted(
        {f for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags") for f in line.split()}
        & {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}
    )
    meta["cpu_flags"] = cpu_flags
    payload = {**meta, "groups": grouped, "rows": rows}
    print("groups of identical bits:", json.dumps(grouped, indent=1))
    if args.quick:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(rows, grouped, meta))


if __name__ == "__main__":
    main()
