"""Run directories that cannot be corrupted: one writer, safe cleanup, resume from the newest intact state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from metalearn.meta import MetaConfig, MetaTrainer, resume_run, start_run
from metalearn.meta.checkpoint import load_newest_intact, save_checkpoint
from metalearn.rules import load_rule
from metalearn.runs import RunDirInUse, RunLock, read_jsonl

from .conftest import assert_succeeds, metalearn_cli, tiny_meta_dict

GENERATIONS = 3


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted tiny run: the reference every recovered run must equal."""
    config = MetaConfig.from_dict(tiny_meta_dict(generations=GENERATIONS))
    return start_run(config, run_dir=tmp_path_factory.mktemp("straight") / "run", progress=False)


def _mean_rule(run_dir):
    return np.asarray(load_rule(run_dir / "rules" / "mean.npz")[1]["log_lr"])


def _assert_same_run(run_dir, reference):
    np.testing.assert_array_equal(_mean_rule(run_dir), _mean_rule(reference))
    for log in ("metrics.jsonl", "eval.jsonl"):
        got = [{k: v for k, v in r.items() if k != "seconds"} for r in read_jsonl(run_dir / log)]
        want = [{k: v for k, v in r.items() if k != "seconds"} for r in read_jsonl(reference / log)]
        assert got == want, log


# ------------------------------------------------------------------ one writer
def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    lock = RunLock(tmp_path).acquire()
    with pytest.raises(RunDirInUse, match=f"in use by another metalearn process \\(pid {os.getpid()} on"):
        RunLock(tmp_path).acquire()
    with pytest.raises(RunDirInUse):
        start_run(MetaConfig.from_dict(tiny_meta_dict(generations=1)), run_dir=tmp_path, progress=False)
    lock.release()
    RunLock(tmp_path).acquire().release()  # free again


def test_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    code = (
        "import sys, time; from metalearn.runs import RunLock; "
        "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirInUse, match=f"pid {holder.pid}"):
        RunLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    RunLock(tmp_path).acquire().release()  # the OS dropped the dead holder's lock
    assert f"previous writer (pid {holder.pid}" in capsys.readouterr().out


def test_train_refuses_a_used_run_directory_unless_overwrite(tmp_path, straight):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    config = MetaConfig.from_dict(tiny_meta_dict(generations=GENERATIONS))
    with pytest.raises(ValueError, match=r"not empty .*metalearn resume"):
        start_run(config, run_dir=run_dir, progress=False)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"} == {
        p: b for p, b in before.items() if p.name != ".lock"
    }
    start_run(config, run_dir=run_dir, progress=False, overwrite=True)
    _assert_same_run(run_dir, straight)
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"would not delete \['notes.txt'\]"):
        start_run(config, run_dir=run_dir, progress=False, overwrite=True)
    assert (run_dir / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------- safe cleanup
def test_cleanup_deletes_only_this_runs_own_checkpoints(tmp_path):
    state = {"x": np.arange(3.0)}
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    save_checkpoint(tmp_path / "other", state, generation=99, search_hash="h", keep=2, run_id="other")
    shutil.copy(tmp_path / "other" / "checkpoints" / "gen_000099.npz", folder / "gen_000099.npz")
    (folder / "gen_backup.npz").write_bytes(b"not mine")
    for g in range(1, 6):
        save_checkpoint(tmp_path, state, generation=g, search_hash="h", keep=1, run_id="me")  # keep has a floor of 2
    names = sorted(p.name for p in folder.glob("*.npz"))
    assert names == ["gen_000004.npz", "gen_000005.npz", "gen_000099.npz", "gen_backup.npz"]
    # Resume skips the foreign file, saying why, and takes this run's newest.
    warnings = []
    _, generation = load_newest_intact(tmp_path, state, search_hash="h", run_id="me", warn=warnings.append)
    assert generation == 5 and len(warnings) == 1 and "written by another run" in warnings[0]


# ------------------------------------------------------ newest intact state
def test_resume_falls_back_past_a_corrupt_newest_checkpoint(tmp_path, straight):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    newest = run_dir / "checkpoints" / f"gen_{GENERATIONS:06d}.npz"
    newest.write_bytes(newest.read_bytes()[:200])  # torn
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write('{"generation": 9, "best_fi')  # a torn last line, as a crash mid-append leaves
    (run_dir / "result.json").unlink()
    resume_run(run_dir, progress=False)
    _assert_same_run(run_dir, straight)


@pytest.mark.parametrize("lost", ["checkpoints", "checkpoints+eval"])
def test_a_run_killed_before_its_first_checkpoint_resumes(tmp_path, straight, lost):
    if lost == "checkpoints+eval":  # killed earlier still, while writing config.json: `train` starts it again
        (tmp_path / "torn").mkdir()
        (tmp_path / "torn" / "config.json.tmp").write_text('{"kind": "me')
        start_run(MetaConfig.from_dict(tiny_meta_dict(generations=1)), run_dir=tmp_path / "torn", progress=False)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(straight / "config.json", run_dir / "config.json")  # all a run has before its first checkpoint
    if lost == "checkpoints":  # killed after the generation-0 evaluation was written
        shutil.copy(straight / "eval.jsonl", run_dir / "eval.jsonl")
        rows = read_jsonl(run_dir / "eval.jsonl")
        (run_dir / "eval.jsonl").write_text(json.dumps(rows[0]) + "\n")
    resume_run(run_dir, progress=False)
    _assert_same_run(run_dir, straight)  # in particular one generation-0 evaluation row, not two


def test_resume_refuses_to_lower_generations_below_what_is_done(tmp_path, straight):
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    config_before = (run_dir / "config.json").read_text()
    with pytest.raises(ValueError, match=f"--generations 1 is invalid: .* has done {GENERATIONS}; allowed: >= 3"):
        resume_run(run_dir, generations=1, progress=False)
    assert (run_dir / "config.json").read_text() == config_before


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "config.json: not valid JSON"),
        ("[1, 2]", "config.json: expected a JSON object, got list"),
        ('{"kind": "meta"}', "config.json: has no 'config' mapping"),
    ],
)
def test_a_broken_config_json_is_named(tmp_path, content, message):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        resume_run(tmp_path, progress=False)


# ----------------------------------------------------------------- SIGKILLs
@pytest.mark.slow
def test_sigkill_at_random_moments_always_resumes_exactly(tmp_path, straight):
    """SIGKILL the run again and again at random moments (from the first instant on), resuming each time.

    Kill times are drawn up to the time one uninterrupted CLI run takes, so they land in start-up,
    compilation, generations, checkpoint writes and the final exports; the run must end equal to
    one never interrupted.
    """
    import yaml

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_meta_dict(generations=GENERATIONS)))
    t0 = time.time()
    assert_succeeds(metalearn_cli("train", str(cfg), "--run-dir", str(tmp_path / "timing"), log_dir=tmp_path))
    span = time.time() - t0
    rng = np.random.default_rng(0)
    run_dir, kills, finished = tmp_path / "run", 0, 0
    proc = metalearn_cli("train", str(cfg), "--run-dir", str(run_dir), log_dir=tmp_path)
    while kills < 20:
        try:
            proc.wait(timeout=float(rng.uniform(0.0, span)))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        else:  # it finished before the kill: start over in a new directory
            assert_succeeds(proc)
            _assert_same_run(run_dir, straight)
            finished += 1
            run_dir = tmp_path / f"run{finished}"
            proc = metalearn_cli("train", str(cfg), "--run-dir", str(run_dir), log_dir=tmp_path)
            continue
        if (run_dir / "config.json").exists():
            proc = metalearn_cli("resume", str(run_dir), log_dir=tmp_path)
        else:  # killed before config.json was complete: nothing to resume, start again (nothing is lost)
            proc = metalearn_cli("train", str(cfg), "--run-dir", str(run_dir), log_dir=tmp_path)
    assert_succeeds(proc)
    _assert_same_run(run_dir, straight)
    jax.clear_caches()


# ------------------------------------------------------------- user errors
def test_bad_files_give_one_line_naming_them(tmp_path, capsys):
    from metalearn.cli import main

    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("generations: [1,\n")
    nan_rule = tmp_path / "nan.npy"
    np.save(nan_rule, np.full(1211, np.nan, np.float32))
    for args, message in [
        (["train", str(bad_yaml)], f"{bad_yaml}: not valid YAML"),
        (["train", "cartpole_lr_schedule", "--run-dir", "/sys/metalearn-run"], "/sys/metalearn-run: cannot create"),
        (["train", "cartpole_lr_schedule", "--out", str(bad_yaml)], f"{bad_yaml}"),  # a file, not a folder
        (["eval", f"published:{nan_rule}", "--preset", "cartpole"], "1211 non-finite values"),
    ]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


# ------------------------------------------------- property: no user error traces back
_CONFIG = tiny_meta_dict(generations=1)
_PATHS = [
    "generations",
    "seed",
    "fitness",
    "seeds_per_member",
    "keep_checkpoints",
    "rule.name",
    "rule.kwargs",
    "rule.kwargs.knots",
    "rule.kwargs.init_lr",
    "strategy",
    "strategy.name",
    "strategy.sigma",
    "strategy.sigma_decay",
    "strategy.lr_decay",
    "strategy.population_size",
    "strategy.optimizer",
    "strategy.optimizer_kwargs",
    "strategy.kwargs",
    "strategy.antithetic",
    "tasks",
    "tasks.0",
    "tasks.0.preset",
    "tasks.0.env",
    "tasks.0.env_kwargs",
    "tasks.0.train",
    "tasks.0.train.lr",
    "tasks.0.train.num_envs",
    "tasks.0.reference_return",
    "held_out_tasks",
    "curriculum",
    "curriculum.kind",
    "no_such_key",
    "strategy.no_such_key",
]
_VALUES = [
    "0",
    "1",
    "-1",
    "2.5",
    "1e9",
    "abc",
    "true",
    "null",
    "[1]",
    "[]",
    "{}",
    "{a: 1}",
    '"0.5"',
    "nan",
    "",
    "[",
    "{x",
]


@pytest.fixture(scope="module")
def hypothesis_settings():
    hypothesis = pytest.importorskip("hypothesis")
    return hypothesis.settings(max_examples=150, deadline=None, derandomize=True)


def test_no_set_override_gives_a_traceback(hypothesis_settings):
    """Any --set KEY=VALUE over a config's paths either builds a config or fails with a one-line ValueError."""
    from hypothesis import given
    from hypothesis import strategies as st

    from metalearn.overrides import apply_dotted_overrides

    values = st.one_of(st.sampled_from(_VALUES), st.text(max_size=6))
    sets = st.lists(st.tuples(st.sampled_from(_PATHS), values).map("=".join), min_size=1, max_size=3)

    @hypothesis_settings
    @given(sets)
    def check(assignments):
        try:
            MetaTrainer(MetaConfig.from_dict(apply_dotted_overrides(_CONFIG, assignments)))  # what `train` builds
        except ValueError as err:
            assert "\n" not in str(err).strip(), str(err)

    check()


def test_no_config_file_gives_a_traceback(hypothesis_settings, tmp_path):
    """Arbitrary YAML documents as a config file: a config, or a one-line ValueError naming the problem."""
    from hypothesis import given
    from hypothesis import strategies as st

    from metalearn.meta import load_config_dict

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4))
    docs = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["rule", "strategy", "tasks", "name", "kwargs", "preset", "train", "sigma", "x"]),
                inner,
                max_size=3,
            )
        ),
        max_leaves=8,
    )
    path = tmp_path / "c.yaml"

    @hypothesis_settings
    @given(st.one_of(docs.map(lambda d: {**_CONFIG, "strategy": d}), docs.map(lambda d: {**_CONFIG, "tasks": d}), docs))
    def check(doc):
        import yaml

        path.write_text(yaml.safe_dump(doc))
        try:
            MetaConfig.from_dict(load_config_dict(str(path)))
        except ValueError as err:
            assert "\n" not in str(err).strip(), str(err)

    check()


@pytest.mark.parametrize(
    "manifest,message",
    [
        ({}, "its manifest names no rule"),
        ({"rule": ["lr_schedule"]}, "its manifest names no rule"),
        ({"rule": "lr_schedule", "kwargs": [1, 2]}, "its manifest's 'kwargs' is \\[1, 2\\]"),
        ({"rule": "lr_schedule", "kwargs": {"knots": "many"}}, "hyper-parameter knots='many' is invalid"),
        ({"rule": "no_such_rule"}, "unknown rule 'no_such_rule'"),
    ],
)
def test_a_broken_rule_file_is_named(tmp_path, manifest, message):
    from metalearn.pytree_io import save_pytree
    from metalearn.rules import RULE_FORMAT

    path = tmp_path / "rule.npz"
    save_pytree(path, {"log_lr": np.zeros(4, np.float32)}, format=RULE_FORMAT, manifest=manifest)
    with pytest.raises(ValueError, match=message) as err:
        load_rule(path)
    assert str(path) in str(err.value)


def test_a_run_where_every_member_diverges_finishes_and_says_so(tmp_path, capsys):
    from metalearn.cli import _print_meta_result

    d = tiny_meta_dict(generations=2)
    d["rule"]["kwargs"]["init_lr"] = 1e20  # every member's agents blow up
    run_dir = start_run(MetaConfig.from_dict(d), run_dir=tmp_path / "run", progress=False)
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["nan_count"] for r in rows] == [4, 4] and all(r["mean_fitness"] is None for r in rows)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["all_diverged"] and result["best_fitness"] is None
    _print_meta_result(run_dir)
    out = capsys.readouterr().out
    assert "n/a (all diverged)" in out and "every member diverged" in out
    resume_run(run_dir, generations=3, progress=False)  # resume survives it too
    assert json.loads((run_dir / "result.json").read_text())["generations"] == 3


@pytest.mark.slow  # ~18 s cold on 2 cores (test-fast stays within 5 min)
def test_eval_reports_divergence_per_seed(tmp_path, capsys):
    from metalearn.cli import main
    from metalearn.rules import make_rule, save_rule

    rule = make_rule("lr_schedule", knots=4, init_lr=1e20)
    save_rule(tmp_path / "wild.npz", rule, rule.init(jax.random.PRNGKey(0)))
    args = ["eval", str(tmp_path / "wild.npz"), "--preset", "cartpole", "--seeds", "2", "--set", "total_timesteps=512"]
    tiny = ["--set", "num_envs=4", "--set", "num_steps=32", "--set", "num_minibatches=2", "--out", str(tmp_path / "e")]
    assert main([*args, *tiny]) == 0
    out = capsys.readouterr().out
    assert "| cartpole | lr_schedule (wild.npz) | 2 | n/a | 2/2 [0, 1] |" in out
    assert "| cartpole | PPO (preset) | 2 | " in out and "| 0/2 |" in out  # the rule diverged, not Adam
    assert "verdict on cartpole (final_return, vs PPO (preset)): n/a (2 agents diverged or not evaluated)" in out
