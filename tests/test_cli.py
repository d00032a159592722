"""The command line and the run directory it writes (the `make demo` path)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metalearn.cli import main
from metalearn.runs import read_jsonl


def test_list_names_envs_presets_and_objectives(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("CartPole-v1", "brax/ant", "breakout", "ppo_clip"):
        assert name in out


def test_inner_run_writes_a_complete_run_directory(tmp_path, capsys):
    args = ["inner", "cartpole", "--set", "total_timesteps=4096", "--seeds", "2", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    assert f"run directory: {run_dir}" in out
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env"] == "CartPole-v1" and config["train"]["total_timesteps"] == 4096 and config["seeds"] == 2
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["update"] for r in rows] == list(range(1, 9))  # 4096 / (4 x 128) updates, one row each
    assert rows[-1]["env_steps"] == 4096 and len(rows[-1]["episode_return_per_seed"]) == 2
    result = json.loads((run_dir / "result.json").read_text())
    assert len(result["final_return"]) == 2 and result["diverged"] == [False, False]
    np.testing.assert_allclose(np.mean(result["final_return"]), result["final_return_mean"], rtol=1e-6)
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["inner", "cartpol"], "unknown preset 'cartpol'; did you mean: cartpole"),
        (["inner", "cartpole", "--set", "lr=fast"], "--set lr='fast': expected a number"),
        (["inner", "cartpole", "--env", "Brekout-MinAtar"], "did you mean: Breakout-MinAtar"),
        (["inner", "cartpole", "--seeds", "0"], "seeds=0 must be >= 1"),
    ],
)
def test_bad_input_gives_one_clear_line(args, message, capsys, tmp_path):
    assert main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written
