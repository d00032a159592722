"""What every experiment config would cost: `metalearn plan` on each (experiments/reports/plan.md).

    python experiments/scripts/plan_report.py run      # metalearn plan NAME --time-small --json reports/plan/NAME.json
    python experiments/scripts/plan_report.py check    # full-size plans of the CPU-sized configs, to check the scaling
    python experiments/scripts/plan_report.py report   # the tables from those files

`--time-small` compiles the full config (its compile time and XLA's memory analysis are the full config's) and
times 4 members (2 agents) with 2 updates per inner training at the config's own batch shapes, scaled up by the
ratio of env steps. Pinned to one core with single-threaded XLA, as every CPU number in the reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "experiments" / "reports" / "plan"
CHECK = ("cartpole_lr_schedule", "lpo_cartpole_cpu", "lpg_gridworld_metagrad")  # small enough to time at full size


def _plan(name: str, out: Path, *flags: str) -> None:
    """Runs `metalearn plan`; a refusal (the config would not fit in memory here) is kept as {"refused": why}."""
    cmd = [str(Path(sys.executable).parent / "metalearn"), "plan", name, "--repeats", "1", "--json", str(out), *flags]
    print(" ".join(cmd[1:]), flush=True)
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    refused = [line for line in proc.stderr.splitlines() if line.startswith("metalearn: error:")]
    if proc.returncode == 2 and refused and "needs" in refused[-1]:
        why = refused[-1].removeprefix("metalearn: error: ")
        out.write_text(json.dumps({"experiment": name, "command": " ".join(cmd[1:-2]), "refused": why}) + "\n")
        print("refused:", why, flush=True)
    elif proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")


def run() -> None:
    from metalearn.meta import list_experiments

    OUT.mkdir(parents=True, exist_ok=True)
    for name in list_experiments():
        if not (OUT / f"{name}.json").is_file():  # resumable: a finished plan is kept
            _plan(name, OUT / f"{name}.json", "--time-small")


def check() -> None:
    for name in CHECK:
        if not (OUT / f"{name}.full.json").is_file():
            _plan(name, OUT / f"{name}.full.json")


def report() -> None:
    from metalearn.meta.plan import _duration, _size

    rows = []
    for path in sorted(OUT.glob("*.json")):
        if path.name.endswith(".full.json"):
            continue
        p = json.loads(path.read_text())
        if "refused" in p:
            why = p["refused"].split(", more than")[0]
            rows.append(f"| `{p['experiment']}` | refused on this 24 GiB machine: {why} | | | | | | | |")
            continue
        c = p["config"]
        who = (
            f"{c['meta_gradient']['num_agents']} agents"
            if c["regime"] == "meta_gradient"
            else f"{c['strategy']['population_size']} x {c['seeds_per_member']}"
        )
        rows.append(
            f"| `{p['experiment']}` | {c['rule']['name']} | {who} | {p['env_steps_per_generation']:,} | "
            f"{p['seconds_per_generation']:,.1f} | {p['generations']} | {_duration(p['projected_total_seconds'])} | "
            f"{_size(p['memory']['peak'])} / {_size(p['eval_memory']['peak'])} | {p['compile_seconds']:.0f} |"
        )
    print(
        "| experiment | rule | members x seeds (agents) | env steps / generation | s / generation (1 core) | "
        "generations | projected run (1 core) | peak memory: generation / evaluation | compile s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("| experiment | s / generation, timed at full size | projected by --time-small | ratio |")
    print("| --- | --- | --- | --- |")
    for name in CHECK:
        full, small = OUT / f"{name}.full.json", OUT / f"{name}.json"
        if full.is_file() and small.is_file():
            a = json.loads(full.read_text())["seconds_per_generation"]
            b = json.loads(small.read_text())["seconds_per_generation"]
            print(f"| `{name}` | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["run", "check", "report"])
    {"run": run, "check": check, "report": report}[parser.parse_args().step]()
