"""Run directories that cannot be corrupted: one writer, safe cleanup, resume from the newest intact state."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from metalearn.meta import ESTrainer, MetaConfig, resume_run, start_run
from metalearn.meta.checkpoint import FOREIGN, load_newest_intact, save_checkpoint
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


def test_a_foreign_file_in_the_way_of_a_checkpoint_is_moved_aside_never_overwritten(tmp_path):
    state, run_dir = {"x": np.arange(3.0)}, tmp_path / "run"
    folder = run_dir / "checkpoints"
    save_checkpoint(tmp_path / "other", state, generation=3, search_hash="h", keep=2, run_id="other")
    save_checkpoint(run_dir, state, generation=1, search_hash="h", keep=2, run_id="me")
    theirs = (tmp_path / "other" / "checkpoints" / "gen_000003.npz").read_bytes()
    misnamed = (folder / "gen_000001.npz").read_bytes()  # this run's, under another generation's name
    (folder / "gen_000003.npz").write_bytes(theirs)
    warnings = []
    save_checkpoint(run_dir, state, generation=3, search_hash="h", keep=2, run_id="me", warn=warnings.append)
    (folder / "gen_000004.npz").write_bytes(misnamed)
    save_checkpoint(run_dir, state, generation=4, search_hash="h", keep=2, run_id="me", warn=warnings.append)
    (folder / "gen_000005.npz").write_bytes(theirs)  # a second file of a name already set aside
    (folder / FOREIGN / "gen_000005.npz").write_bytes(b"set aside earlier")
    save_checkpoint(run_dir, state, generation=5, search_hash="h", keep=2, run_id="me", warn=warnings.append)
    assert (folder / FOREIGN / "gen_000003.npz").read_bytes() == theirs
    assert (folder / FOREIGN / "gen_000004.npz").read_bytes() == misnamed
    assert (folder / FOREIGN / "gen_000005.npz").read_bytes() == b"set aside earlier"
    assert (folder / FOREIGN / "gen_000005-1.npz").read_bytes() == theirs
    assert len(warnings) == 3 and all("\n" not in w for w in warnings)
    assert f"{folder / 'gen_000003.npz'}: not this run's checkpoint" in warnings[0]
    assert f"moved it to {folder / FOREIGN / 'gen_000003.npz'}" in warnings[0]
    _, generation = load_newest_intact(run_dir, state, search_hash="h", run_id="me")
    assert generation == 5  # this run's own, written in their place
    # --overwrite deletes what runs write, never what one set aside
    config = MetaConfig.from_dict(tiny_meta_dict(generations=1))
    with pytest.raises(ValueError, match=f"would not delete \\['checkpoints/{FOREIGN}'\\]"):
        start_run(config, run_dir=run_dir, progress=False, overwrite=True)
    assert (folder / FOREIGN / "gen_000003.npz").read_bytes() == theirs


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


def _killed_after_generation_2(tmp_path, straight):
    """``straight`` as a run killed in generation 3 leaves it: checkpoint 2, logs up to generation 2."""
    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir)
    (run_dir / "checkpoints" / f"gen_{GENERATIONS:06d}.npz").unlink()
    for name in ("result.json", "fitness.png"):
        (run_dir / name).unlink()
    shutil.rmtree(run_dir / "rules")
    for log in ("metrics.jsonl", "eval.jsonl"):
        rows = [r for r in read_jsonl(run_dir / log) if r["generation"] <= 2]
        (run_dir / log).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_resume_repairs_a_last_row_that_lacks_its_newline(tmp_path, straight):
    run_dir = _killed_after_generation_2(tmp_path, straight)
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text(metrics.read_text().removesuffix("\n"))  # the row is whole, its newline never written
    resume_run(run_dir, progress=False)
    _assert_same_run(run_dir, straight)
    assert metrics.read_text().endswith("}\n") and len(metrics.read_text().splitlines()) == GENERATIONS
    assert json.loads((run_dir / "result.json").read_text())["generations"] == GENERATIONS


def test_resume_refuses_an_unreadable_log_before_writing_anything(tmp_path, straight):
    run_dir = _killed_after_generation_2(tmp_path, straight)
    (run_dir / "metrics.jsonl").write_text((run_dir / "metrics.jsonl").read_text() + '{"generation": 3, "be')
    lines = (run_dir / "eval.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "eval.jsonl").write_text("".join([lines[0], "{garbage\n", *lines[1:]]))
    files = lambda: {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    before = files()
    with pytest.raises(ValueError, match=r"eval.jsonl: line 2 is not valid JSON") as err:
        resume_run(run_dir, progress=False)
    assert "\n" not in str(err.value)
    assert files() == before  # neither log repaired, nothing appended, no rule, no result


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


def _cli_error(capsys, args) -> str:
    """The one line ``metalearn ARGS`` prints on stderr when it refuses them (exit status 2)."""
    from metalearn.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def test_bad_config_files_and_values_give_one_line_naming_them(tmp_path, capsys):
    import yaml

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_meta_dict(generations=1), "seed": 0}))
    deep = tmp_path / "deep.yaml"
    deep.write_text("generations: " + "[" * 20_000 + "]" * 20_000 + "\n")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"generations: 1\nname: caf\xe9\n")
    train = ["train", str(cfg), "--run-dir", str(tmp_path / "run"), "--set"]
    for args, message in [
        ([*train, "seed=1e30"], "seed=1000000000000000019884624838656 is invalid; allowed: an integer in [-2**31"),
        ([*train, "tasks.0.train.total_timesteps=1e30"], "total_timesteps=1000000000000000019884624838656 is inv"),
        (["train", str(deep)], f"{deep}: nested too deeply to read; allowed: a YAML mapping"),
        (["train", str(latin1)], f"{latin1}: not UTF-8 text (byte 0xe9 at offset 24); allowed: a UTF-8 text file"),
    ]:
        assert message in _cli_error(capsys, args)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "assignment",
    [
        "strategy.lr=inf",
        "strategy.sigma=nan",
        "strategy.lr=1e400",
        "tasks.0.reference_return=inf",
        "tasks.0.train.lr=-inf",
        "rule.kwargs.init_lr=inf",
        "tasks.0.env_kwargs={a: .nan}",
        "strategy.optimizer_kwargs={b1: [0.9, .inf]}",
        "meta_gradient={lr: .inf}",
    ],
)
def test_non_finite_numbers_are_refused_in_every_config_field(assignment):
    from metalearn.overrides import apply_dotted_overrides

    d = apply_dotted_overrides(tiny_meta_dict(generations=1), [assignment])
    with pytest.raises(ValueError, match=r"=-?(inf|nan) is invalid; allowed: a finite number$"):
        ESTrainer(MetaConfig.from_dict(d))


def _manifest_file(path, manifest_json: bytes) -> None:
    np.savez(path, x=np.zeros(3), __manifest__=np.frombuffer(manifest_json, np.uint8))


def test_broken_checkpoint_and_rule_manifests_are_named_not_traced_back(tmp_path, capsys):
    from metalearn.meta.checkpoint import CHECKPOINT_FORMAT
    from metalearn.pytree_io import save_pytree

    state, folder = {"x": np.zeros(3)}, tmp_path / "checkpoints"
    save_checkpoint(tmp_path, state, generation=1, search_hash="h", keep=2, run_id="me")
    _manifest_file(folder / "gen_000002.npz", b"[1, 2]")
    manifest = {"generation": None, "search_hash": "h", "run_id": "me"}
    save_pytree(folder / "gen_000003.npz", state, format=CHECKPOINT_FORMAT, manifest=manifest)
    warnings = []
    _, generation = load_newest_intact(tmp_path, state, search_hash="h", run_id="me", warn=warnings.append)
    assert generation == 1
    assert warnings == [
        f"warning: skipping checkpoint {folder / 'gen_000003.npz'}: its manifest's generation is None; "
        "allowed: an integer >= 0",
        f"warning: skipping checkpoint {folder / 'gen_000002.npz'}: its manifest is a JSON list; allowed: a JSON "
        "object (not a metalearn file?)",
    ]
    rule = tmp_path / "rule.npz"
    _manifest_file(rule, b'["metalearn-rule"]')
    assert f"{rule}: its manifest is a JSON list" in _cli_error(capsys, ["analyze", str(rule)])


def _disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


class _FullFile:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    write = staticmethod(_disk_full)


@pytest.mark.parametrize("writer", ["write_json", "append_jsonl", "save_pytree", "checkpoint latest"])
def test_a_full_disk_names_the_file_being_written(tmp_path, monkeypatch, writer):
    from metalearn.pytree_io import save_pytree
    from metalearn.runs import append_jsonl, write_json

    target = tmp_path / "out.npz"
    if writer == "write_json":
        monkeypatch.setattr(Path, "write_text", _disk_full)
        write = lambda: write_json(target, {"a": 1})
    elif writer == "append_jsonl":
        monkeypatch.setattr(Path, "open", lambda *a, **k: _FullFile())
        write = lambda: append_jsonl(target, [{"a": 1}])
    elif writer == "save_pytree":
        monkeypatch.setattr(os, "fsync", _disk_full)
        write = lambda: save_pytree(target, {"x": np.zeros(3)}, format="f")
    else:
        monkeypatch.setattr(Path, "write_text", _disk_full)
        target = tmp_path / "checkpoints" / "latest"
        write = lambda: save_checkpoint(tmp_path, {"x": np.zeros(3)}, generation=1, search_hash="h", keep=2)
    with pytest.raises(OSError) as err:
        write()
    assert err.value.errno == 28 and err.value.filename == str(target)


def test_a_full_disk_in_train_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    import yaml

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_meta_dict(generations=1)))
    monkeypatch.setattr(Path, "write_text", _disk_full)
    err = _cli_error(capsys, ["train", str(cfg), "--run-dir", str(tmp_path / "run")])
    assert f"{tmp_path / 'run' / 'config.json'}: No space left on device" in err


def test_a_text_file_given_as_a_rule_is_not_a_rule_file(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    err = _cli_error(capsys, ["eval", str(notes), "--preset", "cartpole"])
    assert f"{notes}: not a metalearn-rule .npz file (text or another format, not a zip archive); allowed:" in err
    assert "pickle" not in err
    with pytest.raises(ValueError, match=r"not a metalearn-rule \.npz file"):
        load_rule(notes)


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
            ESTrainer(MetaConfig.from_dict(apply_dotted_overrides(_CONFIG, assignments)))  # what `train` builds
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
    # The mean rule (lr 1e20) diverges on every held-out seed too: flagged, and no number summarises it.
    evals = read_jsonl(run_dir / "eval.jsonl")
    for row in [*evals, result["last_eval"]]:
        assert row["tasks"]["cartpole"] == {"held_out": False, "diverged": [True, True], **_DIVERGED}
    _analyze_says_diverged(run_dir, capsys)
    resume_run(run_dir, generations=3, progress=False)  # resume survives it too
    assert json.loads((run_dir / "result.json").read_text())["generations"] == 3


_DIVERGED = {"return": "diverged", "fitness": "diverged"}


def _analyze_says_diverged(run_dir, capsys) -> str:
    """``metalearn analyze RUN`` of a diverged run: its report says so, with no numpy warning and no "nan"."""
    import warnings

    from metalearn.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "All-NaN slice encountered" among them
        assert main(["analyze", str(run_dir)]) == 0
    assert "Warning" not in capsys.readouterr().err
    report = (run_dir / "analysis.md").read_text()
    assert "nan" not in report.lower().replace("nan/inf", "")
    return report


def test_a_run_whose_mean_rule_is_not_finite_says_so(tmp_path, monkeypatch, capsys):
    from metalearn.cli import _print_meta_result

    mean_params = ESTrainer.mean_params
    monkeypatch.setattr(
        ESTrainer, "mean_params", lambda self, s: jax.tree.map(lambda x: x * np.nan, mean_params(self, s))
    )
    run_dir = start_run(MetaConfig.from_dict(tiny_meta_dict(generations=1)), run_dir=tmp_path / "run", progress=False)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["mean_rule_diverged"] and not result["all_diverged"]  # the population itself was healthy
    for row in [*read_jsonl(run_dir / "eval.jsonl"), result["last_eval"]]:
        assert row["tasks"]["cartpole"] == {"held_out": False, "diverged": [True, True], **_DIVERGED}
    _print_meta_result(run_dir)
    assert "warning: the mean rule diverged" in capsys.readouterr().out
    report = _analyze_says_diverged(run_dir, capsys)
    assert "The mean rule diverged" in report and "cartpole diverged (2/2 seeds)" in report


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


def test_only_run_dir_spells_a_run_files_name():
    """RunDir owns the run-directory layout: no other module of the package writes a run file's name (a second
    spelling is how a rename leaves a reader behind)."""
    names = r"config\.json|metrics\.jsonl|eval\.jsonl|result\.json|chosen\.json|mean\.npz|best\.npz|fitness\.png"
    names += r"|levels\.png|learning_curves?\.png|checkpoints"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        ["grep", "-rnE", rf"[\"']({names})[\"']", "--include=*.py", "metalearn"], cwd=root, capture_output=True
    )
    hits = [line for line in out.stdout.decode().splitlines() if not line.startswith("metalearn/runs.py")]
    assert hits == []
