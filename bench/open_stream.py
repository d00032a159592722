"""Does the flat OPEN step (issue 41: one noise draw over all parameters, not one per tensor) train as before?

Published Breakout OPEN weights, PPO on Breakout-MinAtar at 2.5e5 steps, the same 16 seeds (fixed here
before the run) with the optimizer before the flat step (``learned_optimizers/open.py`` at commit 7e3b08a,
read with ``git show``) and after it: only the learned noise's random stream differs (and float summation
order). Verdict by the evaluation engine's rule (``metalearn.analysis.clustered.judge``): the margin is 5% of
the before arm's IQM of final returns, stated here before running.

    python bench/open_stream.py        # writes bench/results/open_stream.json (about 10 min on one core)
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from results_io import write_results

from metalearn.analysis import clustered
from metalearn.inner import get_preset, make_train
from metalearn.rules import published_rule

BEFORE = "7e3b08a"  # the last commit with one noise draw per parameter tensor
SEEDS = 16
TIMESTEPS = 250_000
RELATIVE_MARGIN = 0.05


def optimizer_before():
    """``to_optax`` of OPEN as it was at ``BEFORE``."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:learned_optimizers/open.py"], cwd=root, check=True, capture_output=True, text=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "open_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("open_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["open_before"] = module  # dataclasses and NamedTuples look their module up
    spec.loader.exec_module(module)
    return module.to_optax


def main() -> None:
    preset = get_preset("breakout")
    config = preset.config.replace(total_timesteps=TIMESTEPS)
    rule, meta = published_rule("breakout")
    keys = jax.random.split(jax.random.PRNGKey(0), SEEDS)
    arms = {"before": optimizer_before(), "after": rule.optimizer}  # one module: one OPENState class
    finals, seconds = {}, {}
    for name, optimizer in arms.items():
        train = jax.jit(jax.vmap(make_train(preset.env, config, optimizer=optimizer), in_axes=(None, 0)))
        t0 = time.perf_counter()
        result = jax.device_get(train(meta, keys))
        seconds[name] = time.perf_counter() - t0
        finals[name] = np.asarray(result.final_return, np.float64)
        print(f"{name}: final return IQM {clustered.arm_summary(finals[name][None, None])['iqm']}", flush=True)
    judged = clustered.judge(
        finals["after"][None, None], finals["before"][None, None], relative_margin=RELATIVE_MARGIN, seed=0
    )
    print(f"after - before: {judged['difference']}  margin {judged['margin']:.3f}  verdict: {judged['verdict']}")
    path = write_results(
        "open_stream",
        {
            "before_commit": BEFORE,
            "preset": "breakout",
            "total_timesteps": TIMESTEPS,
            "seeds": SEEDS,
            "relative_margin": RELATIVE_MARGIN,
            "final_return": {k: v.tolist() for k, v in finals.items()},
            "seconds_with_compile": seconds,
            **judged,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
