"""The command line and the run directory it writes (the `make demo` path)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metalearn.cli import main
from metalearn.runs import read_jsonl


def test_list_names_everything_a_config_can_use(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("CartPole-v1", "brax/ant", "breakout", "ppo_clip", "cartpole_lr_schedule", "lr_schedule", "CMA_ES"):
        assert name in out


@pytest.mark.slow  # trains PPO through the CLI
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
    assert result["steps_per_second"] > 0  # timed over the 7 chunks after the first (which compiles)
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


@pytest.mark.slow  # meta-training, resume and eval
def test_train_resume_and_eval_from_the_command_line(tmp_path, capsys):
    import yaml

    from .conftest import tiny_meta_dict

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_meta_dict(generations=2)))
    run_dir = tmp_path / "run"
    assert main(["train", str(cfg), "--run-dir", str(run_dir), "--quiet", "--set", "strategy.sigma=0.4"]) == 0
    out = capsys.readouterr().out
    assert "generations 2: population mean fitness" in out and f"run directory: {run_dir}" in out
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["config"]["strategy"]["sigma"] == 0.4 and saved["name"] == "tiny"
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["generation"] for r in rows] == [1, 2]
    assert {"best_fitness", "mean_fitness", "median_fitness", "sigma", "seconds", "nan_count"} <= set(rows[0])
    assert [r["generation"] for r in read_jsonl(run_dir / "eval.jsonl")] == [0, 2]
    for name in ("fitness.png", "rules/mean.npz", "rules/best.npz", "checkpoints/latest", "result.json"):
        assert (run_dir / name).exists(), name

    assert main(["resume", str(run_dir), "--generations", "3", "--quiet"]) == 0
    assert [r["generation"] for r in read_jsonl(run_dir / "metrics.jsonl")] == [1, 2, 3]
    assert json.loads((run_dir / "config.json").read_text())["config"]["generations"] == 3

    capsys.readouterr()
    args = ["eval", str(run_dir), "--preset", "cartpole", "--seeds", "2", "--set", "total_timesteps=2048"]
    assert main([*args, "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "| cartpole | lr_schedule (mean.npz) | PPO (preset) |" in out
    assert "verdict on cartpole (final_return, vs PPO (preset)): " in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "no_such_experiment"], "no config file 'no_such_experiment' and no experiment of that name"),
        (["train", "cartpole_lr_schedule", "--set", "strategy.name=cmaa"], "unknown strategy 'cmaa'"),
        (["train", "cartpole_lr_schedule", "--set", "generations=ten"], "generations='ten': expected an integer"),
        (["resume", "/nonexistent/run"], "not a run directory"),
        (["eval", "/nonexistent/rule.npz", "--preset", "cartpole"], "no such file"),
        (
            ["eval", "dpo", "--preset", "cartpole", "--metric", "iqm"],
            "unknown metric 'iqm'; allowed: final_return, eval_return",
        ),
        (["eval", "dpo", "--preset", "cartpole", "--tune", "lr=1e-3", "--tuned", "d"], "--tuned and --tune both"),
        (["eval", "dpo", "--preset", "cartpole", "--preset", "acrobot", "--tuned", "d"], "--tuned with 2 tasks"),
        (["eval", "dpo", "--preset", "cartpole", "--budget", "1024,2048", "--tuned", "d"], "--tuned with 2 tasks"),
        (["eval", "discovered:cartpole_lr_schedul", "--preset", "cartpole"], "unknown discovered rule"),
        (
            ["eval", "published:disco103", "--preset", "catch", "--rule-kwarg", "replay_capacity"],
            "--rule-kwarg 'replay_capacity': expected key=value",
        ),
        (
            ["eval", "published:disco103", "--preset", "catch", "--rule-kwarg", "replay=0"],
            "rule 'disco' has no hyper-parameter(s) ['replay']",
        ),
        (
            ["eval", "published:disco103", "--preset", "catch", "--rule-kwarg", "replay_capacity=abc"],
            "rule 'disco' hyper-parameter replay_capacity='abc' is invalid; allowed: an integer",
        ),
        (["compare", "/nonexistent/spec.yaml"], "/nonexistent/spec.yaml: no such spec file"),
        (["compare"], "no SPEC given; allowed: metalearn compare SPEC.yaml"),
        (["compare", "--analyse", "/nonexistent"], "/nonexistent: no spec.json"),
        (["plan", "cartpole_lr_schedul"], "no experiment of that name"),
        (["plan", "cartpole_lr_schedule", "--repeats", "-1"], "repeats=-1 is invalid; allowed: an integer >= 0"),
    ],
)
def test_bad_meta_input_gives_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.slow  # trains PPO with OPEN and with Adam
def test_eval_published_open_weights(tmp_path, capsys):
    args = ["eval", "published:breakout", "--preset", "cartpole", "--seeds", "2", "--set", "total_timesteps=1024"]
    assert main([*args, "--out", str(tmp_path / "eval")]) == 0
    assert "open (published:breakout)" in capsys.readouterr().out


@pytest.fixture
def jax_cache_config():
    """Restores JAX's compilation-cache settings that ``main`` changes globally."""
    import jax

    saved = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache
    yield jax.config
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_enable_compilation_cache", saved[1])


def test_cli_turns_on_the_compile_cache_unless_told_not_to(jax_cache_config, monkeypatch, tmp_path, capsys):
    # Each command fails on its argument before compiling anything, after the cache is set up.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    jax_cache_config.update("jax_compilation_cache_dir", None)
    assert main(["inner", "cartpol"]) == 2
    assert jax_cache_config.jax_compilation_cache_dir == str(tmp_path / "metalearn" / "jax")
    assert jax_cache_config.jax_enable_compilation_cache

    jax_cache_config.update("jax_compilation_cache_dir", "/somewhere/else")  # e.g. JAX_COMPILATION_CACHE_DIR
    assert main(["inner", "cartpol"]) == 2
    assert jax_cache_config.jax_compilation_cache_dir == "/somewhere/else"

    for args in (["--no-compile-cache", "inner", "cartpol"], ["inner", "cartpol", "--no-compile-cache"]):
        jax_cache_config.update("jax_enable_compilation_cache", True)
        assert main(args) == 2
        assert not jax_cache_config.jax_enable_compilation_cache
