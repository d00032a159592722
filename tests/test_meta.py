"""The meta-trainer: configs, a generation, NaN members, improvement, checkpoints and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from metalearn.meta import ESTrainer, MetaConfig, resume_run, start_run
from metalearn.meta.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from metalearn.overrides import apply_dotted_overrides
from metalearn.pytree_io import PytreeFileError

from .conftest import tiny_meta_dict


@pytest.fixture(scope="module")
def tiny_trainer():
    return ESTrainer(MetaConfig.from_dict(tiny_meta_dict()))


# ------------------------------------------------------------------ config
@pytest.mark.parametrize(
    "change,message",
    [
        ({"strategy": {"population_size": 4, "sigmaa": 1}}, r"unknown key\(s\) \['strategy.sigmaa'\]"),
        ({"fitnes": "final_return"}, r"unknown key\(s\) \['fitnes'\]"),
        ({"fitness": "auc"}, "fitness='auc' is invalid; allowed: final_return | eval_return | mean_return"),
        ({"tasks": []}, "tasks is empty"),
        ({"tasks": [{"preset": "cartpol"}]}, "unknown preset 'cartpol'"),
        ({"tasks": [{"preset": "cartpole", "train": {"num_minibatches": 3}}]}, "must divide the batch"),
        ({"generations": 0}, "generations=0 is invalid; allowed: an integer >= 1"),
        ({"rule": {"name": "opn"}}, "unknown rule 'opn'"),
    ],
)
def test_bad_configs_name_the_key(change, message):
    d = {**tiny_meta_dict(), **change}
    with pytest.raises(ValueError, match=message):
        ESTrainer(MetaConfig.from_dict(d))


def test_dotted_overrides_and_hash():
    d = apply_dotted_overrides(
        tiny_meta_dict(), ["strategy.population_size=8", "tasks.0.train.total_timesteps=4e3", "generations=9"]
    )
    c = MetaConfig.from_dict(d)
    assert c.strategy.population_size == 8 and c.tasks[0].train["total_timesteps"] == 4000 and c.generations == 9
    base = MetaConfig.from_dict(tiny_meta_dict())
    assert MetaConfig.from_dict(apply_dotted_overrides(tiny_meta_dict(), ["generations=99"])).search_hash() == (
        base.search_hash()
    )  # run length is not part of the search
    assert c.search_hash() != base.search_hash()
    with pytest.raises(ValueError, match=r"tasks\.5 is not an index of a list of 1"):
        apply_dotted_overrides(tiny_meta_dict(), ["tasks.5.preset=acrobot"])
    assert MetaConfig.from_dict(c.to_dict()) == c


# -------------------------------------------------------------- generation
def test_generation_shapes_and_determinism(tiny_trainer):
    s0 = tiny_trainer.init()
    s1, m1 = tiny_trainer.generation(s0)
    s1b, _ = tiny_trainer.generation(s0)
    assert int(s1.generation) == 1 and m1.fitness.shape == (4,) and m1.task_fitness.shape == (1,)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s1b), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(m1.nan_count) == 0
    assert float(s1.best_fitness) == pytest.approx(float(m1.best_fitness))


class _DivergingMember:
    """A strategy whose member ``member`` trains at a learning rate of e^40; ``told``: the fitness tell got."""

    def __init__(self, strategy, member: int):
        self.strategy, self.member, self.told = strategy, member, []

    def __getattr__(self, name):
        return getattr(self.strategy, name)

    def ask(self, key, state):
        population, state = self.strategy.ask(key, state)
        return jax.tree.map(lambda x: x.at[self.member].set(40.0), population), state

    def tell(self, key, population, fitness, state):
        jax.debug.callback(lambda f: self.told.append(np.asarray(f)), fitness)
        return self.strategy.tell(key, population, fitness, state)


def test_a_diverged_member_gets_a_fitness_below_every_healthy_one():
    trainer = ESTrainer(MetaConfig.from_dict(tiny_meta_dict()))
    trainer.strategy = wrapped = _DivergingMember(trainer.strategy, member=2)
    state, metrics = trainer.generation(trainer.init())
    raw, told = np.asarray(metrics.fitness), wrapped.told[-1]
    healthy = np.arange(4) != 2
    assert int(metrics.nan_count) == 1 and np.isfinite(raw[healthy]).all()
    # The update sees the diverged member below every healthy one, by exactly 1, and never a NaN.
    assert np.isfinite(told).all() and told[2] == raw[healthy].min() - 1.0 < told[healthy].min()
    np.testing.assert_array_equal(told[healthy], raw[healthy])
    assert float(metrics.mean_fitness) == pytest.approx(raw[healthy].mean())  # statistics over healthy members
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(trainer.mean_params(state)))


@pytest.mark.slow
@pytest.mark.parametrize("meta_seed", [0, 1])
def test_meta_training_improves_fitness(meta_seed):
    """From a too-small learning rate (1e-4), OpenES over the LR schedule must raise CartPole fitness.

    Measured (seeds 0-2): population mean fitness 0.07 -> 0.34-0.41 in 10 generations; the mean rule
    on held-out seeds 0.07 -> 0.24-0.36.
    """
    d = tiny_meta_dict(generations=10, population=8, timesteps=8192)
    d["strategy"]["lr"] = 0.5
    d["seed"] = meta_seed
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state = trainer.init()
    means = []
    for _ in range(10):
        state, m = trainer.generation(state)
        means.append(float(m.mean_fitness))
    assert np.mean(means[-3:]) > np.mean(means[:3]) + 0.1, means
    key = jax.random.PRNGKey(123)
    before = trainer.evaluate_rule(trainer.initial_mean, key)["cartpole"]["fitness"].mean()
    after = trainer.evaluate_rule(trainer.mean_params(state), key)["cartpole"]["fitness"].mean()
    assert float(after) > float(before) + 0.1


# ------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_and_refusals(tmp_path, tiny_trainer):
    state, _ = tiny_trainer.generation(tiny_trainer.init())
    h = tiny_trainer.config.search_hash()
    path = save_checkpoint(tmp_path, state, generation=1, search_hash=h, keep=2)
    assert latest_checkpoint(tmp_path) == path
    loaded, generation = load_checkpoint(path, tiny_trainer.init(), search_hash=h)
    assert generation == 1
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)

    before = path.read_bytes()
    with pytest.raises(PytreeFileError, match="another search config"):
        load_checkpoint(path, tiny_trainer.init(), search_hash="0" * 16)
    other = ESTrainer(MetaConfig.from_dict(apply_dotted_overrides(tiny_meta_dict(), ["rule.kwargs.knots=6"])))
    with pytest.raises(PytreeFileError, match=r"leaf .* has shape"):
        load_checkpoint(path, other.init(), search_hash=h)
    assert path.read_bytes() == before  # refusing touches nothing

    cut = tmp_path / "checkpoints" / "gen_000009.npz"
    cut.write_bytes(before[:100])
    with pytest.raises(PytreeFileError, match="corrupt or truncated"):
        load_checkpoint(cut, tiny_trainer.init(), search_hash=h)


def test_keeps_only_the_newest_checkpoints(tmp_path, tiny_trainer):
    state = tiny_trainer.init()
    for g in range(5):
        save_checkpoint(tmp_path, state, generation=g, search_hash="h", keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.npz")) == ["gen_000003.npz", "gen_000004.npz"]


@pytest.mark.slow
def test_resume_refuses_an_edited_config(tmp_path):
    run_dir = start_run(MetaConfig.from_dict(tiny_meta_dict(generations=1)), run_dir=tmp_path / "run", progress=False)
    saved = json.loads((run_dir / "config.json").read_text())
    saved["config"]["strategy"]["sigma"] = 0.7
    (run_dir / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="config no longer matches the run"):
        resume_run(run_dir)
    with pytest.raises(ValueError, match="not a run directory"):
        resume_run(tmp_path)


# ------------------------------------------------------------------ scale
def _mean_params_in_process(d: dict):
    trainer = ESTrainer(MetaConfig.from_dict(d))
    state = trainer.init()
    for _ in range(d["generations"]):
        state, _ = trainer.generation(state)
    return np.asarray(trainer.mean_params(state)["log_lr"])


SCALE_SCRIPT = """
import json, sys
args = json.loads(sys.argv[1])
if args.get("num_processes"):
    from metalearn.distributed import initialize
    initialize(args["coordinator"], args["num_processes"], args["process_id"])
import jax, numpy as np
from metalearn.meta import MetaConfig, ESTrainer
trainer = ESTrainer(MetaConfig.from_dict(args["config"]))
assert trainer.mesh.size == args["devices"], (trainer.mesh.size, args["devices"])
state = trainer.init()
hlo = trainer.generation.lower(state).compile().as_text()
n, members = args["devices"], args["config"]["strategy"]["population_size"]
# Each device trains only its slice of the population, then fitness is all-gathered.
assert f"f32[{members // n},{args['config']['seeds_per_member']}," in hlo and "all-gather" in hlo
for _ in range(args["config"]["generations"]):
    state, _ = trainer.generation(state)
print(json.dumps(np.asarray(trainer.mean_params(state)["log_lr"]).tolist()))
"""


def _scale_run(args: dict, xla_devices: int) -> subprocess.Popen:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={xla_devices}"}
    return subprocess.Popen(
        [sys.executable, "-c", SCALE_SCRIPT, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow  # a 4-device subprocess
def test_population_sharded_over_four_devices_matches_one_device():
    d = tiny_meta_dict(generations=2, population=8)
    proc = _scale_run({"config": d, "devices": 4}, xla_devices=4)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    np.testing.assert_array_equal(np.array(json.loads(out.splitlines()[-1])), _mean_params_in_process(d))


@pytest.mark.slow  # two processes
def test_two_processes_match_one_process():
    """jax.distributed on 127.0.0.1 with gloo CPU collectives: both processes end where one process does."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tiny_meta_dict(generations=2, population=8)
    procs = [
        _scale_run(
            {"config": d, "devices": 2, "coordinator": f"127.0.0.1:{port}", "num_processes": 2, "process_id": i},
            xla_devices=1,
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        outs.append(np.array(json.loads(out.splitlines()[-1])))
    expected = _mean_params_in_process(d)
    for out in outs:
        np.testing.assert_array_equal(out, expected)


def test_population_must_divide_over_devices(tiny_trainer):
    """By default the population is sharded over every device of the process; sizes must divide."""
    assert tiny_trainer.mesh.axis_names == ("pop",) and list(tiny_trainer.mesh.devices.flat) == jax.devices()
    with pytest.raises(ValueError, match="population_size=4 must be a multiple of the number of devices"):
        ESTrainer(MetaConfig.from_dict(tiny_meta_dict()), devices=[jax.devices()[0]] * 3)


@pytest.mark.slow
def test_tensorboard_logging_writes_events(tmp_path):
    d = {**tiny_meta_dict(generations=1), "tensorboard": True}
    run_dir = start_run(MetaConfig.from_dict(d), run_dir=tmp_path / "run", progress=False)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
