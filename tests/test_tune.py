"""`metalearn tune`: a grid × seeds sweep in one program equals separate trainings at each point."""

import json

import jax
import numpy as np
import pytest

from metalearn.cli import main
from metalearn.inner import Trainer
from metalearn.inner.tune import Sweep, choose, grid_points, parse_grid, sweep

from .conftest import TINY as CFG  # 8 updates of a tiny PPO on CartPole: enough for the learning rate to matter


def _separate(env, config, seeds, seed):
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    return jax.jit(jax.vmap(Trainer(env, config).train, in_axes=(None, 0)))(None, keys)


@pytest.mark.slow  # ~25 s cold on 2 cores (test-fast stays within 5 min)
def test_a_traced_grid_equals_separate_runs_at_each_point(cartpole):
    grid = parse_grid(["lr=1e-3,1e-2", "max_grad_norm=0,0.05"], CFG)
    result = sweep(cartpole, CFG, grid, seeds=2, seed=3)
    assert result.points == grid_points(grid)
    assert result.final_return.shape == (4, 2) and result.curve.shape == (4, 2, CFG.num_updates)
    # Two points that differ in both fields: the clipped, fast one and the unclipped, slow one.
    for i in (0, 3):
        alone = _separate(cartpole, CFG.replace(**result.points[i]), seeds=2, seed=3)
        np.testing.assert_allclose(result.curve[i], np.asarray(alone.curve), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(result.eval_return[i], np.asarray(alone.eval_return), rtol=1e-5, atol=1e-5)
    # The grid's values reach the agents: the learning rate changes the learning curve.
    assert not np.allclose(result.curve[0], result.curve[3])


@pytest.mark.slow  # ~25 s cold on 2 cores (test-fast stays within 5 min)
def test_a_structural_field_is_a_group_compiled_on_its_own(cartpole):
    grid = parse_grid(["optimizer=adam,sgd", "ent_coef=0.0,0.05"], CFG)
    result = sweep(cartpole, CFG, grid, seeds=2, seed=1)
    assert [p["optimizer"] for p in result.points] == ["adam", "adam", "sgd", "sgd"]
    alone = _separate(cartpole, CFG.replace(optimizer="sgd", ent_coef=0.05), seeds=2, seed=1)
    np.testing.assert_allclose(result.curve[3], np.asarray(alone.curve), rtol=1e-5, atol=1e-5)


def test_choose_prefers_the_best_mean_and_ranks_diverged_points_last():
    final = np.array([[1.0, 2.0], [5.0, 5.0], [9.0, 9.0], [0.0, 8.0]])
    diverged = np.zeros((4, 2), bool)
    diverged[2, 0] = True
    r = Sweep([{"lr": i} for i in range(4)], final, np.full((4, 2), np.nan), np.zeros((4, 2, 1)), diverged)
    assert choose(r) == 1  # point 2 scores best but diverged once
    assert choose(r, select="iqm") == 1
    with pytest.raises(ValueError, match="NaN at every point"):
        choose(r, metric="eval_return")


@pytest.mark.parametrize(
    "items, match",
    [
        ([], "--grid is empty"),
        (["lrr=1e-3"], "unknown TrainConfig field 'lrr'; did you mean: lr"),
        (["lr=fast,1e-3"], "expected a number"),
        (["num_envs=4.5"], "expected an integer"),
        (["lr="], "has no values"),
        (["lr=1e-3", "lr=1e-2"], "given twice"),
        (["lr=-1e-3"], "lr=-0.001 is invalid; allowed: a number > 0"),
        (["lr=1e-3,1e-3"], "repeated value"),
        (["lr"], "expected FIELD=V1,V2"),
        (["optimizer=adamw"], "optimizer='adamw' is invalid"),
    ],
)
def test_bad_grids_give_clear_errors(items, match):
    with pytest.raises(ValueError, match=match):
        parse_grid(items, CFG)


def test_tune_cli_writes_a_table_and_the_chosen_setting(tmp_path, capsys):
    args = ["tune", "cartpole", "--grid", "lr=1e-4,1e-2", "--budget", "1024", "--seeds", "2", "--out", str(tmp_path)]
    args += ["--set", "num_envs=4", "--set", "num_steps=32", "--set", "num_minibatches=2", "--set", "hidden_size=16"]
    assert main(args) == 0
    (run_dir,) = tmp_path.iterdir()
    chosen = json.loads((run_dir / "chosen.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    best = int(np.argmax(np.mean(results["final_return"], axis=1)))
    assert chosen["point"] == results["points"][best]
    assert "total_timesteps=1024" in chosen["set"] and f"lr={chosen['point']['lr']}" in chosen["set"]
    assert (run_dir / "learning_curves.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "(chosen)" in out and "IQM [95% CI]" in out and str(run_dir) in out
