"""`metalearn plan`: its forecast against a timed generation, its env-step count, its memory refusal; `shrink`."""

from __future__ import annotations

import time

import jax
import pytest

from metalearn.meta import MetaConfig, load_config_dict, make_meta_trainer
from metalearn.meta import plan as plan_module
from metalearn.meta.plan import format_plan, plan, to_json
from metalearn.meta.shrink import shrink

from .conftest import tiny_meta_dict


@pytest.fixture(scope="module")
def tiny() -> tuple[MetaConfig, object]:
    config = MetaConfig.from_dict({**tiny_meta_dict(generations=10), "eval_every": 4})
    return config, make_meta_trainer(config)


def _timed_directly(trainer, runs: int = 3) -> float:
    """The fastest of ``runs`` generations of ``trainer``, after one to compile and warm up."""
    state, _ = jax.block_until_ready(trainer.generation(trainer.init()))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        state, _ = jax.block_until_ready(trainer.generation(state))
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.slow  # compiles two small configs' generations and evaluations (~25 s cold)
def test_plan_is_within_2x_of_a_timed_generation(tiny):
    config, trainer = tiny
    # timed at half the population and scaled by env steps; compilation and memory stay the full config's
    half = MetaConfig.from_dict({**tiny_meta_dict(generations=10, population=2), "eval_every": 4, "eval_seeds": 1})
    plans, scaled, direct = [], [], []
    for _ in range(3):  # interleaved, and the fastest of each compared: other load on the machine hits all alike
        plans.append(plan(config, repeats=3, trainer=trainer))
        scaled.append(plan(config, repeats=3, trainer=trainer, time_at=half))
        direct.append(_timed_directly(trainer))
    measured = min(direct)
    for forecasts in (plans, scaled):
        seconds = min(f.seconds for f in forecasts)
        assert measured / 2 <= seconds <= 2 * measured, ([f.seconds for f in forecasts], direct)
    p, q = plans[0], scaled[0]
    assert q.scale == 2 and q.memory == p.memory and q.env_steps == p.env_steps
    # 4 members x 2 seeds x 2048 steps of the one task; evaluations after generations 4, 8 and the 10th
    assert p.env_steps == 4 * 2 * 2048
    assert p.evaluations == 3
    assert p.total_seconds == pytest.approx(10 * p.seconds + 3 * p.eval_seconds)
    assert p.memory.temp > 0 and p.memory.peak >= p.memory.temp and p.available > p.peak
    seconds, total, peak = p.scaled(population=2)
    assert seconds == pytest.approx(2 * p.seconds) and peak > p.memory.peak
    assert total == pytest.approx(10 * seconds + 3 * p.eval_seconds)
    text = format_plan(p, "tiny")
    assert "env steps per generation: 16,384" in text and "4x population" in text
    assert to_json(p, "tiny")["env_steps_per_generation"] == 16_384


def test_plan_refuses_a_config_that_does_not_fit_before_running_it(tiny, monkeypatch):
    config, trainer = tiny
    monkeypatch.setattr(plan_module, "available_memory", lambda device: 1024)
    ran = []
    monkeypatch.setattr(plan_module, "_timed", lambda *a: ran.append(a))
    with pytest.raises(ValueError, match=r"one generation needs .* more than the 1.0 KiB free.*population_size"):
        plan(config, trainer=trainer)
    assert not ran
    with pytest.raises(ValueError, match="repeats=-1 is invalid; allowed: an integer >= 0"):
        plan(config, repeats=-1, trainer=trainer)


def test_meta_gradient_env_steps_count_k_updates_and_the_fresh_rollout():
    d = shrink(load_config_dict("lpg_gridworld_metagrad"))
    trainer = make_meta_trainer(MetaConfig.from_dict(d))
    batch = 2 * 8  # shrink's envs x steps
    assert trainer.env_steps_per_generation() == 2 * 1 * (2 + 1) * batch  # agents x meta-steps x (K + 1) x batch


def test_shrink_keeps_the_structure_and_shrinks_the_budget():
    original = load_config_dict("ta_lpg_gridworld_es")
    small = MetaConfig.from_dict(shrink(original))
    full = MetaConfig.from_dict(original)
    assert load_config_dict("ta_lpg_gridworld_es") == original  # not changed in place
    assert small.rule == full.rule and small.strategy.name == full.strategy.name
    assert [t.name for t in small.tasks] == [t.name for t in full.tasks]
    assert [t.name for t in small.held_out_tasks] == [t.name for t in full.held_out_tasks]
    assert (small.curriculum.kind, small.curriculum.score) == (full.curriculum.kind, full.curriculum.score)
    assert (small.task_sampling, small.fitness_shaping) == (full.task_sampling, full.fitness_shaping)
    assert small.strategy.population_size == 4 and small.curriculum.levels_per_generation == 2  # one per pair
    (_, _, tiny), (_, _, big) = small.tasks[0].resolve(), full.tasks[0].resolve()
    # agents living their level's lifetime keep their updates, with a smaller batch
    assert tiny.level_lifetime and tiny.num_updates == big.num_updates and tiny.batch_size == 16 < big.batch_size
    held = small.held_out_tasks[0].resolve()[2]
    assert held.num_updates == 2 and held.total_timesteps == 32


@pytest.mark.slow  # the CLI compiles a tiny config and its --time-small version (~20 s cold)
def test_plan_from_the_command_line_writes_its_json(tmp_path, capsys):
    import json

    import yaml

    from metalearn.cli import main

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_meta_dict(generations=10), "eval_every": 4}))
    out = tmp_path / "plan.json"
    assert main(["plan", str(cfg), "--repeats", "1", "--time-small", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "plan: tiny (es, rule lr_schedule, 4 members x 2 seed(s), 1 task(s))" in text
    assert "timed at 1/16 of the env steps and scaled" in text  # 16 updates of 4 x 32 -> 2; 2 seeds -> 1
    record = json.loads(out.read_text())
    assert record["env_steps_per_generation"] == 16_384 and record["timed_at_scale"] == 16
    assert record["command"].startswith("metalearn plan ") and record["generations"] == 10
