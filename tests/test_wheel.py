"""The package stands alone (issue 38): its wheel, installed into a fresh virtual environment outside the repository,
lists and plans its shipped experiments, trains one tiny generation of one, and loads the published weights."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the wheel is built from: the build configuration and the three packages (copied, so the build writes
# nothing into the clone).
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "metalearn", "learned_optimizers", "objectives")
# One generation of cartpole_lr_schedule at a tiny budget (as metalearn.meta.shrink sizes a test generation).
TINY_TRAIN = {
    "num_envs": 2,
    "num_steps": 8,
    "total_timesteps": 32,
    "update_epochs": 1,
    "num_minibatches": 1,
    "final_window": 1,
}
TINY = ["generations=1", "seeds_per_member=1", "eval_seeds=2", "eval_every=1", "strategy.population_size=4"] + [
    f"{tasks}.0.train.{k}={v}" for tasks in ("tasks", "held_out_tasks") for k, v in TINY_TRAIN.items()
]
LOAD_RULES = """
import metalearn, objectives
from metalearn.rules import resolve_rule
for ref in ("published:breakout", "published:disco103"):
    rule, meta_params, label = resolve_rule(ref)
    print(label)
print(metalearn.__file__)
print(objectives.__file__)
"""


def _run(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow  # builds and installs the wheel (~10 s), then trains and plans in fresh processes (~1-2 min)
def test_the_installed_wheel_runs_outside_the_repository(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    wheels = tmp_path / "wheels"
    # The project's own setuptools and wheel, no index: the build works offline.
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, src], tmp_path, env)
    (wheel,) = wheels.glob("metalearn-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python, metalearn = venv / "bin" / "python", venv / "bin" / "metalearn"
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], tmp_path, env)
    # The dependencies are the project's: its environment's site-packages after the new one's, through a .pth
    # file, added once the wheel is in so that pip sees only the new environment.
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env).strip())
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "project-dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))

    work = tmp_path / "work"
    work.mkdir()
    labels = _run([python, "-c", LOAD_RULES], work, env).splitlines()
    assert labels[0].endswith("(published:breakout)") and labels[1].endswith("(published:disco103)")
    for module in labels[2:]:
        assert Path(module).is_relative_to(site), f"{module} is not the installed package's"

    listed = _run([metalearn, "list"], work, env)
    experiments = listed.split("experiments (metalearn train NAME):\n")[1].split("\nrules:")[0]
    assert "  cartpole_lr_schedule\n" in experiments and "  lpg_gridworld_metagrad\n" in experiments

    sets = [a for s in TINY for a in ("--set", s)]
    plan = _run([metalearn, "plan", "cartpole_lr_schedule", *sets, "--repeats", "0"], work, env)
    assert plan.startswith("plan: cartpole_lr_schedule (es, rule lr_schedule, 4 members x 1 seed(s), 1 task(s))")

    _run([metalearn, "train", "cartpole_lr_schedule", *sets, "--quiet", "--run-dir", "run"], work, env)
    result = json.loads((work / "run" / "result.json").read_text())
    assert result["generations"] == 1
