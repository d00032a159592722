"""EGGROLL benchmark: a population through one d×d linear layer, four ways side by side.

For d ∈ {256, 1024, 2048} and populations N ∈ {64, 256, 1024, 4096}, one
generation = ask + evaluate ``--inputs`` input vectors per member through that
member's perturbed layer (fitness = −mean y²) + tell, as one jitted call:

* ``eggroll_r1`` / ``eggroll_r4``: our EGGROLL, rank 1 and 4, low-rank forward
  (factors regenerated from the key, x·K shared, σ(x·A)·Bᵀ/√r per member;
  ``tell`` with the factors, population never formed);
* ``full_rank``: evosax OpenES through our ``make_strategy`` (its ask
  materialises N×d×d, the forward is a batched matmul with N kernels, its
  tell reads the population);
* ``plain``: the same N·inputs vectors through the unperturbed layer, no ES
  (one batched matmul), the ceiling.

Throughput is members per second (N / generation wall time; minimum over
repeats, the least disturbed by other load on the machine, with the median
also recorded). Memory is XLA's compiled buffer assignment (arguments +
outputs + temporaries) of the generation; ``materialised_bytes`` is the
analytic size of what each method creates. Full-rank configs whose compiled
memory exceeds ``--max-gib`` are compiled but not run, and recorded as skipped
with that memory. A second sweep varies the inputs per member at d = N = 1024:
the update's cost is fixed while the forward's grows with the inputs.

Writes ``bench/results/eggroll.json`` and ``bench/results/eggroll.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from results_io import RESULTS, write_results

from metalearn.es import StrategyConfig, make_strategy
from metalearn.es.lowrank import population_dense

DIMS = (256, 1024, 2048)
POPULATIONS = (64, 256, 1024, 4096)
METHODS = ("eggroll_r1", "eggroll_r4", "full_rank", "plain")
GIB = 2**30


def fitness(y: jax.Array) -> jax.Array:
    """(N, inputs, d) outputs -> (N,) fitness, so no method returns its activations."""
    return -jnp.mean(jnp.square(y), axis=(1, 2))


def build(method: str, d: int, n: int) -> tuple[Callable, tuple]:
    """(jitted generation, its arguments but the inputs) for one method."""
    kernel = jax.random.normal(jax.random.PRNGKey(0), (d, d)) / np.sqrt(d)
    if method == "plain":
        return jax.jit(lambda k, x: fitness((x.reshape(-1, d) @ k).reshape(x.shape))), (kernel,)
    if method.startswith("eggroll"):
        config = StrategyConfig(
            name="eggroll", population_size=n, sigma=0.01, kwargs={"rank": int(method.removeprefix("eggroll_r"))}
        )
        s = make_strategy(config, kernel)

        def eggroll_generation(state, x):
            f = fitness(population_dense(x, s.mean(state), None, s.sigma(state), s.population_noise(state)))
            return s.tell(None, None, f, state)[0], f

        return jax.jit(eggroll_generation), (s.init(jax.random.PRNGKey(1), kernel),)
    s = make_strategy(StrategyConfig(name="open_es", population_size=n, sigma=0.01), kernel)

    def full_rank_generation(state, x):
        k_ask, k_tell = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(2), state.generation_counter))
        population, state = s.ask(k_ask, state)
        f = fitness(jnp.einsum("nbi,nio->nbo", x, population))  # N different kernels
        return s.tell(k_tell, population, f, state)[0], f

    return jax.jit(full_rank_generation), (s.init(jax.random.PRNGKey(1), kernel),)


def materialised_bytes(method: str, d: int, n: int, inputs: int) -> int:
    """What a method creates beyond the shared kernel, in float32: activations plus its perturbations."""
    activations = 2 * n * inputs * d  # x and y
    if method == "plain":
        perturbations = 0
    elif method == "full_rank":
        perturbations = n * d * d
    else:
        perturbations = n * int(method.removeprefix("eggroll_r")) * 2 * d  # A and B
    return 4 * (d * d + activations + perturbations)


def measure(method: str, d: int, n: int, inputs: int, max_gib: float, min_seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {"method": method, "d": d, "population": n, "inputs_per_member": inputs}
    row["materialised_bytes"] = materialised_bytes(method, d, n, inputs)
    fn, args = build(method, d, n)
    x_spec = jax.ShapeDtypeStruct((n, inputs, d), jnp.float32)
    t = time.perf_counter()
    compiled = fn.lower(*args, x_spec).compile()
    row["compile_s"] = time.perf_counter() - t
    mem = compiled.memory_analysis()
    row["peak_bytes"] = int(
        mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes - mem.alias_size_in_bytes
    )
    if row["peak_bytes"] > max_gib * GIB:
        row["skipped"] = f"needs {row['peak_bytes'] / GIB:.1f} GiB > {max_gib} GiB"
        return row
    x = jax.random.normal(jax.random.PRNGKey(3), (n, inputs, d))
    jax.block_until_ready(compiled(*args, x))  # warm-up
    times: list[float] = []
    while len(times) < 2 or (sum(times) < min_seconds and len(times) < 10):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args, x))
        times.append(time.perf_counter() - t)
    del x
    row.update(
        generation_s=min(times),
        generation_s_median=statistics.median(times),
        repeats=len(times),
        members_per_s=n / min(times),
    )
    return row


def _find(rows: list[dict], **match: Any) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def ratios(rows: list[dict], d: int, n: int, inputs: int) -> dict[str, float | None]:
    """EGGROLL r = 1 against full rank and plain inference at one (d, N, inputs)."""
    get = lambda m: _find(rows, method=m, d=d, population=n, inputs_per_member=inputs) or {}
    egg, full, plain = get("eggroll_r1"), get("full_rank"), get("plain")
    ratio = lambda a, b, k: a[k] / b[k] if k in a and k in b else None
    return {
        "eggroll_r1_over_full_rank_throughput": ratio(egg, full, "members_per_s"),
        "eggroll_r1_over_full_rank_memory": ratio(egg, full, "peak_bytes"),
        "eggroll_r1_over_plain_throughput": ratio(egg, plain, "members_per_s"),
        "eggroll_r4_over_plain_throughput": ratio(get("eggroll_r4"), plain, "members_per_s"),
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inputs = rows[0]["inputs_per_member"]
    colors = {"eggroll_r1": "tab:blue", "eggroll_r4": "tab:green", "full_rank": "tab:red", "plain": "black"}
    fig, axes = plt.subplots(2, len(DIMS), figsize=(5 * len(DIMS), 8), sharex=True)
    for col, d in enumerate(DIMS):
        for method in METHODS:
            sel = [r for r in rows if r["d"] == d and r["method"] == method and r["inputs_per_member"] == inputs]
            ran = [r for r in sel if "members_per_s" in r]
            style = {"color": colors[method], "marker": "o", "linestyle": "--" if method == "plain" else "-"}
            if ran:
                axes[0, col].plot([r["population"] for r in ran], [r["members_per_s"] for r in ran], **style)
                axes[1, col].plot([r["population"] for r in ran], [r["peak_bytes"] / 2**20 for r in ran], **style)
            skipped = [r for r in sel if "skipped" in r]
            if skipped:  # what it would need
                axes[1, col].scatter(
                    [r["population"] for r in skipped], [r["peak_bytes"] / 2**20 for r in skipped], marker="x", s=60,
                    color=colors[method],
                )  # fmt: skip
        axes[0, col].set_title(f"d = {d} ({inputs} inputs per member)")
        axes[1, col].set_xlabel("population size N")
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].set_ylabel("generation throughput (members / s)")
    axes[1, 0].set_ylabel("peak memory (MiB, XLA's compiled buffers)")
    handles = [
        plt.Line2D([], [], color=colors[m], marker="o", linestyle="--" if m == "plain" else "-", label=m)
        for m in METHODS
    ]
    handles.append(plt.Line2D([], [], color="tab:red", marker="x", linestyle="", label="full_rank skipped: would need"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=16, help="input vectors evaluated per member")
    parser.add_argument("--max-gib", type=float, default=8.5, help="skip configs whose compiled memory exceeds this")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="time each config for at least this long")
    parser.add_argument("--quick", action="store_true", help="d = 256 and 1024 only, N <= 1024: a smoke run")
    args = parser.parse_args()
    dims = DIMS[:2] if args.quick else DIMS
    populations = POPULATIONS[:3] if args.quick else POPULATIONS
    start, load_start = time.perf_counter(), os.getloadavg()
    rows, sweep = [], []

    def headline() -> dict:
        every = rows + sweep
        return {
            f"inputs={inputs}": ratios(every, 1024, 1024, inputs)
            for inputs in sorted({r["inputs_per_member"] for r in every})
        }

    def save() -> Path:  # after every row, so a run stopped at its time limit keeps what it measured
        return write_results(
            "eggroll",
            {
                "load_average_1_5_15min_at_start": load_start,
                "device": str(jax.devices()[0]),
                "inputs_per_member": args.inputs,
                "max_gib": args.max_gib,
                "seconds": time.perf_counter() - start,
                "headline_d1024_n1024": headline(),
                "targets": "at d = N = 1024: EGGROLL >= 100x the throughput and <= 1/10 the memory of full-rank "
                "ES, >= 0.9x the throughput of plain batched inference",
                "rows": rows,
                "inputs_sweep_d1024_n1024": sweep,
                "note": "members_per_s = N / min generation time over repeats (median also recorded); peak_bytes = "
                "XLA compiled arguments + outputs + temporaries - aliased; materialised_bytes = analytic float32 "
                "size of kernel + activations + perturbations; skipped rows were compiled, not run.",
            },
        )

    print(f"one generation through a d×d layer, {args.inputs} inputs per member:", flush=True)
    for d in dims:
        for n in populations:
            for method in METHODS:
                row = measure(method, d, n, args.inputs, args.max_gib, args.min_seconds)
                rows.append(row)
                save()
                done = (
                    f"{row['members_per_s']:>10,.0f} members/s"
                    if "members_per_s" in row
                    else f"skipped ({row['skipped']})"
                )
                print(f"  d={d:<5} N={n:<5} {method:<11} {done}, {row['peak_bytes'] / 2**20:,.0f} MiB", flush=True)
    print("inputs per member at d = N = 1024 (the update's cost is fixed, the forward's grows):", flush=True)
    for inputs in (1, 4, 8, 16, 64):
        for method in METHODS:
            if inputs == args.inputs:
                continue  # measured above
            if method == "full_rank" and inputs != 1:
                continue  # its cost is dominated by N·d² noise whatever the inputs; measured at 1 and the default
            row = measure(method, 1024, 1024, inputs, args.max_gib, args.min_seconds)
            sweep.append(row)
            save()
            print(f"  inputs={inputs:<3} {method:<11} {row.get('members_per_s', float('nan')):>10,.0f} members/s")
    out = save()
    print("d = N = 1024:", json.dumps(headline(), indent=2))
    plot(rows, RESULTS / "eggroll.png")
    print(f"wrote {out} and {RESULTS / 'eggroll.png'} in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
