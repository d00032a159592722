"""metalearn distill: students of drift objectives, checked against their teachers' closed forms.

Independent references: DPO's drift in closed form (objectives.dpo), and a known closed form — the
KL-penalty drift ½(r − 1 − log r) — that symbolic regression must recover exactly, in the right family
(a function of r alone). Student rule files must load and evaluate like any rule.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.cli import main
from metalearn.distill import DriftSamples, grid_drift_inputs, parse_into, teacher_drift
from metalearn.distill.samples import drift_fn, record_drift_inputs
from metalearn.distill.symbolic import fit_symbolic
from metalearn.rules import load_objective, load_rule, make_rule
from objectives import ObjectiveInputs, dpo_drift, symbolic
from objectives.expression import variables

TINY_SETS = ["num_envs=4", "num_steps=16", "update_epochs=2", "num_minibatches=2", "total_timesteps=512"]
KL = "0.5 * (r - 1 - log(r))"


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """`metalearn distill dpo` into an MLP and into an expression, on a tiny CartPole training."""
    out = tmp_path_factory.mktemp("distill")
    common = ["--preset", "cartpole", "--seeds", "1", "--samples", "800"]
    for tag, into, extra in (
        ("mlp", "mlp:8", []),
        ("sym", "symbolic", ["--generations", "50", "--population", "400", "--max-length", "16"]),
    ):
        args = ["distill", "dpo", "--into", into, *common, *extra, "--out", str(out / tag)]
        assert main([*args, *(arg for s in TINY_SETS for arg in ("--set", s))]) == 0
    return out


def random_inputs(n: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fresh (r, A) in the operating range, drawn independently of the distiller's own samples."""
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(np.log(0.6), np.log(1.6), n)).astype(np.float32), rng.normal(0, 1, n).astype(np.float32)


def student_f(path, r, a) -> np.ndarray:
    loss = load_objective(path)
    x = ObjectiveInputs(jnp.asarray(r), jnp.asarray(a), jnp.log(r), jnp.zeros_like(r), 0.0, 100.0)
    return np.asarray(loss(x) + r * a)


# (RMSE / std of DPO's f) bounds on fresh inputs and on the distiller's held-out part; the symbolic search
# runs at a test-sized budget (50 generations of 400), so its bound is a "far better than a constant" check.
@pytest.mark.parametrize("tag, fresh_tolerance, val_tolerance", [("mlp", 0.1, 0.1), ("sym", 0.5, 0.25)])
@pytest.mark.slow
def test_students_match_dpo_on_fresh_inputs(distilled, tag, fresh_tolerance, val_tolerance):
    """The student rule files (loaded as plain losses) against DPO's closed form on inputs they never saw."""
    r, a = random_inputs()
    teacher = np.asarray(dpo_drift(jnp.asarray(r), jnp.asarray(a)))
    rmse = np.sqrt(np.mean((student_f(distilled / tag / "student.npz", r, a) - teacher) ** 2))
    assert rmse < fresh_tolerance * teacher.std(), (rmse, teacher.std())
    report = json.loads((distilled / tag / "distill.json").read_text())
    assert report["teacher"] == "dpo" and report["relative_val_rmse"] < val_tolerance
    assert report["num_recorded"] == 800 and report["num_grid"] == 41 * 41 and not report["temporal"]


@pytest.mark.slow
def test_student_rule_files_round_trip(distilled):
    """A student file is a rule like any other: same values as the rule it names, invariants at r = 1."""
    for tag, name in (("mlp", "lpo"), ("sym", "symbolic_drift")):
        rule, mp, manifest = load_rule(distilled / tag / "student.npz")
        assert rule.name == name and manifest["distilled_from"] == "dpo"
        r, a = random_inputs(200, seed=2)
        np.testing.assert_allclose(
            student_f(distilled / tag / "student.npz", r, a),
            np.asarray(drift_fn(rule, mp)(r, a, 0 * r, 0 * r + 100)),
            atol=1e-6,  # f recovered as loss + r·A: rounding of r·A
        )
        np.testing.assert_array_equal(student_f(distilled / tag / "student.npz", np.ones(5, np.float32), a[:5]), 0.0)
    report = (distilled / "sym" / "distill.md").read_text()
    assert "$$e = " in report and "def e(r, A" in report and "**chosen**" in report
    assert (distilled / "sym" / "drift.png").stat().st_size > 0


def test_symbolic_regression_recovers_a_known_drift():
    """KL-penalty drift ½(r − 1 − log r): found exactly (error ~ float precision) and as a function of r alone."""
    teacher = make_rule("symbolic_drift", expression=KL)
    grid = grid_drift_inputs(21)
    f = teacher_drift(teacher, teacher.init(None), grid)
    order = np.random.default_rng(0).permutation(len(grid))
    val, train = order[:80], order[80:]
    front, chosen = fit_symbolic(
        grid.take(train), f[train], grid.take(val), f[val], max_length=10, generations=20, population=100
    )
    best = front[chosen]
    assert best.val_rmse < 1e-5 * (1 + f.std()), front
    assert variables(symbolic.parse(best.expression)) == {"r"}, best.expression
    assert [c.length for c in front] == sorted(c.length for c in front)


def test_ta_teacher_students_read_progress(tiny_config, cartpole):
    """A teacher whose drift changes with progress is recorded with its progress, and its students read it."""
    from metalearn.analysis.drifts import reads_progress

    rule = make_rule("symbolic_drift", expression="(1 + p) * (r - 1)^2")
    mp = rule.init(None)
    assert reads_progress(rule, mp)
    assert not reads_progress(make_rule("dpo"), {})
    samples = record_drift_inputs(rule, mp, cartpole, tiny_config, seeds=1, max_samples=500)
    assert len(samples) == 500 and samples.progress.min() == 0 and samples.progress.max() == 1
    assert np.all(samples.num_updates == tiny_config.num_updates)
    np.testing.assert_allclose(teacher_drift(rule, mp, samples), (1 + samples.progress) * (samples.ratio - 1) ** 2,
                               rtol=1e-4, atol=1e-6)  # fmt: skip


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("spec", ["tree", "mlp:0", "mlp:x", "symbolic:3", ""])
def test_bad_student_spec(spec):
    with pytest.raises(ValueError, match="--into"):
        parse_into(spec)


def test_non_drift_teachers_are_refused(tiny_config, cartpole):
    from metalearn.distill import distill_drift

    for name in ("a2c", "lpg"):
        rule = make_rule(name)
        with pytest.raises(ValueError, match="drift distillation needs a drift objective"):
            distill_drift(rule, rule.init(jax.random.PRNGKey(0)), "mlp", cartpole, tiny_config)
    with pytest.raises(ValueError, match="for --into symbolic only"):
        distill_drift(make_rule("dpo"), {}, "mlp", cartpole, tiny_config, generations=3)


def test_empty_and_non_finite_teachers_fail_clearly():
    grid = grid_drift_inputs(5)
    empty = DriftSamples(*(x[:0] for x in grid))
    with pytest.raises(ValueError, match="no samples"):
        teacher_drift(make_rule("dpo"), {}, empty)
    broken = make_rule("symbolic_drift", expression="log(r - 1.5) * A")  # NaN for r < 1.5
    with pytest.raises(ValueError, match=r"non-finite drift values, e\.g\. at r="):
        teacher_drift(broken, broken.init(None), grid)


def test_cli_refuses_a_learned_rule_by_name(capsys):
    assert main(["distill", "lpo", "--into", "mlp"]) == 2
    assert "has meta-parameters to learn" in capsys.readouterr().err


# ------------------------------------------------------------------ OPEN
def test_tapped_open_updates_as_open_and_taps_what_its_network_reads():
    """The tap leaves the update unchanged, and its (features, outputs) are consistent with flax's Dense on
    the 19 features in the published order (a GRU-less OPEN: outputs = MLP(features))."""
    import optax

    from learned_optimizers import open_opt

    mp = open_opt.init(jax.random.PRNGKey(3), use_gru=False, hidden_size=8)
    params = {"actor": {"w": jnp.ones((3, 4)), "b": jnp.zeros(4)}, "critic": {"w": jnp.full((2,), 0.5)}}
    grads = jax.tree.map(lambda p: 0.01 * jnp.arange(p.size, dtype=jnp.float32).reshape(p.shape) - 0.02, params)
    seen = {}
    tapped = open_opt.tapped(mp, lambda f, o, c: seen.update(f=f, o=o), use_gru=False, hidden_size=8)
    plain = open_opt.to_optax(mp, use_gru=False, hidden_size=8)
    extra = {"training_progress": 0.3, "batch_progress": 0.5, "layer_props": jax.tree.map(lambda _: 0.5, params)}
    u1, _ = tapped.update(grads, tapped.init(params), params, **extra)
    u2, _ = plain.update(grads, plain.init(params), params, **extra)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), u1, u2)
    f, o = np.asarray(seen["f"]), np.asarray(seen["o"])
    assert f.shape == (19, 18) and o.shape == (3, 18)
    np.testing.assert_allclose(f[15], 0.3)  # training progress, then layer proportion and batch progress
    np.testing.assert_allclose(f[17], 0.5)
    np.testing.assert_allclose(open_opt._mlp(8).apply(mp["params"], f.T), o.T, rtol=1e-4, atol=1e-5)
    assert isinstance(tapped, optax.GradientTransformationExtraArgs)


@pytest.mark.slow
def test_open_student_of_a_representable_teacher(tiny_config, cartpole, tmp_path):
    """A GRU-less 8-unit OPEN is representable by an 8-unit student. From random starts the fit gets its step to
    about a fifth of the step's spread on held-out elements (measured 0.20-0.34; a mean predictor is 1.0), and
    the student file is an OPEN rule that trains."""
    from metalearn.distill import distill, write_report

    teacher = make_rule("open", use_gru=False, hidden_size=8)
    mp = teacher.init(jax.random.PRNGKey(1))
    d = distill(teacher, mp, "mlp:8", cartpole, tiny_config, seeds=1, max_samples=4000)
    assert d.num_recorded == 8 * 2 * 2 * 32 and d.val_rmse < 0.5 * d.teacher_std, d
    write_report(d, tmp_path, teacher, mp, task="tiny")
    rule, student_mp, manifest = load_rule(tmp_path / "student.npz")
    assert rule.name == "open" and not rule.kwargs["use_gru"] and manifest["distilled_from"] == "open"
    assert (tmp_path / "student_update.png").stat().st_size > 0
    from metalearn.inner import Trainer

    result = jax.jit(Trainer(cartpole, tiny_config, optimizer=rule.optimizer).train)(student_mp, jax.random.PRNGKey(0))
    assert not bool(result.diverged)


def test_open_distillation_refuses_what_it_cannot_do(tiny_config, cartpole):
    from metalearn.distill import distill

    open_rule = make_rule("open")
    with pytest.raises(ValueError, match="for --into symbolic only"):
        distill(open_rule, open_rule.init(jax.random.PRNGKey(0)), "mlp:4", cartpole, tiny_config, generations=3)
    with pytest.raises(ValueError, match="distill takes drift objectives"):
        distill(make_rule("a2c"), {}, "mlp", cartpole, tiny_config)


# ------------------------------------------------------------------ LR schedules
def test_symbolic_schedule_is_adam_at_its_formula():
    """A constant formula is optax's Adam at exp(e); a decaying one steps exp(e(p)) times Adam's direction."""
    import optax

    g = {"w": jnp.asarray([0.3, -2.0, 1e-3])}
    params = {"w": jnp.zeros(3)}
    const = make_rule("symbolic_lr_schedule", expression="log(0.01)")
    adam = optax.adam(0.01, eps=1e-5)
    ours, theirs = const.optimizer(const.init(None)), adam
    s1, s2 = ours.init(params), theirs.init(params)
    for _ in range(3):
        u1, s1 = ours.update(g, s1, params, training_progress=0.7)
        u2, s2 = theirs.update(g, s2, params)
        np.testing.assert_allclose(u1["w"], u2["w"], rtol=1e-6)
    decay = make_rule("symbolic_lr_schedule", expression="log(0.01) - 2 * p")
    tx = decay.optimizer(decay.init(None))
    for p in (0.0, 0.5, 1.0, 1.5):  # progress is clipped to [0, 1]
        u, _ = tx.update(g, tx.init(params), params, training_progress=p)
        u_adam, _ = optax.adam(0.01 * np.exp(-2 * min(p, 1.0)), eps=1e-5).update(g, adam.init(params), params)
        np.testing.assert_allclose(u["w"], u_adam["w"], rtol=1e-5)
    with pytest.raises(ValueError, match="r"):
        make_rule("symbolic_lr_schedule", expression="log(r)")


def test_schedule_inputs_are_the_progress_the_trainer_passes(tiny_config, cartpole):
    """operating_progress(N) is exactly the set of training_progress values an optimizer sees in a training."""
    import optax

    from metalearn.distill.schedule import operating_progress
    from metalearn.inner import Trainer

    seen = []

    def update(updates, state, params=None, *, training_progress=0.0, **extra):
        jax.debug.callback(lambda p: seen.append(float(p)), training_progress)
        return jax.tree.map(jnp.zeros_like, updates), state

    recorder = optax.GradientTransformationExtraArgs(lambda params: optax.EmptyState(), update)
    jax.block_until_ready(Trainer(cartpole, tiny_config, optimizer=recorder).train(None, jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(np.unique(np.float32(seen)), operating_progress(tiny_config.num_updates))


def test_schedule_distillation_recovers_a_known_schedule(tiny_config, cartpole, tmp_path):
    """8 knots on a line in log lr (exactly an exponential decay, interpolated) -> that line, as a function of
    p alone; the student is a rule file that loads and trains."""
    from learned_optimizers import symbolic_schedule
    from metalearn.distill import distill, write_report
    from metalearn.distill.schedule import log_lr
    from metalearn.inner import Trainer

    rule = make_rule("lr_schedule", knots=8)
    teacher = {"log_lr": jnp.asarray(np.log(0.01) - 2.0 * np.linspace(0, 1, 8), jnp.float32)}
    d = distill(rule, teacher, "symbolic", cartpole, tiny_config, max_length=8, generations=20, population=100)
    # 1e-3 in log lr: the tidied expression keeps 4 significant digits (log 0.01 = −4.60517 is written −4.605)
    assert d.val_rmse < 1e-3 and d.env_steps == 0 and d.num_recorded == tiny_config.num_updates, d.front
    assert variables(symbolic_schedule.parse(d.student.kwargs["expression"])) == {"p"}, d.front
    write_report(d, tmp_path, rule, teacher, task="cartpole")
    student, mp, manifest = load_rule(tmp_path / "student.npz")
    assert student.name == "symbolic_lr_schedule" and manifest["distilled_from"] == "lr_schedule"
    assert "exp(e(p))" in (tmp_path / "distill.md").read_text() and (tmp_path / "schedule.png").is_file()
    p = np.linspace(0, 1, 11)
    np.testing.assert_allclose(np.exp(log_lr(student, mp, p)), 0.01 * np.exp(-2 * p), rtol=1e-3)
    result = jax.jit(Trainer(cartpole, tiny_config, optimizer=student.optimizer).train)(mp, jax.random.PRNGKey(0))
    assert not bool(result.diverged)


def test_schedule_distillation_refuses_what_it_cannot_do(tiny_config, cartpole):
    from metalearn.distill import distill_schedule

    rule = make_rule("lr_schedule")
    with pytest.raises(ValueError, match="allowed: symbolic"):
        distill_schedule(rule, rule.init(None), "mlp:8", cartpole, tiny_config)
    with pytest.raises(ValueError, match="is not a learning-rate schedule"):
        distill_schedule(make_rule("open"), {}, "symbolic", cartpole, tiny_config)
    with pytest.raises(ValueError, match="step size inf at progress"):
        broken = make_rule("symbolic_lr_schedule", expression="1000 * p")
        distill_schedule(broken, broken.init(None), "symbolic", cartpole, tiny_config, generations=2)


# ------------------------------------------------------------------ OPEN as a formula
OPEN_PARAMS = {"actor": {"w": jnp.arange(12.0).reshape(3, 4) - 5.0, "b": jnp.zeros(4)}, "critic": {"w": jnp.ones(2)}}
OPEN_GRADS = jax.tree.map(lambda p: 0.01 * jnp.arange(p.size, dtype=jnp.float32).reshape(p.shape) - 0.015, OPEN_PARAMS)


def open_formula_update(expression: str, **extra) -> np.ndarray:
    """The first update of ``symbolic_open`` at ``expression`` on OPEN_PARAMS, raveled in tree order."""
    rule = make_rule("symbolic_open", expression=expression)
    tx = rule.optimizer(rule.init(None))
    u, _ = tx.update(OPEN_GRADS, tx.init(OPEN_PARAMS), OPEN_PARAMS, **extra)
    return np.concatenate([np.ravel(x) for x in jax.tree.leaves(u)])


def test_open_formula_steps_by_its_expression_of_opens_features():
    """Closed forms of OPEN's per-tensor normalisation: e = sg is a zero-mean sign descent (sign g / √(1 + 1e-5)
    in every tensor without a zero gradient); e = w steps by w / RMS(w of its tensor); a feature constant over
    all parameters (training progress) gives no update at all (OPEN's zero-mean step)."""
    leaves = [np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(OPEN_GRADS)]
    s = np.concatenate([np.sign(g) / np.sqrt(np.mean(np.sign(g) ** 2) + 1e-5) for g in leaves])
    np.testing.assert_allclose(open_formula_update("sg"), -0.001 * (s - s.mean()), rtol=1e-5, atol=1e-9)
    w = [np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(OPEN_PARAMS)]
    n = np.concatenate([x / np.sqrt(np.mean(x**2) + 1e-5) for x in w])
    np.testing.assert_allclose(open_formula_update("2 * w"), -0.002 * (n - n.mean()), rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(open_formula_update("3 * tprop + 1", training_progress=0.4), 0.0)
    with pytest.raises(ValueError, match="lm7"):
        make_rule("symbolic_open", expression="lm7")


def test_open_formula_fit_recovers_a_known_step():
    """Outputs whose step is d = 0.8·sg − 0.3·sm3 (o1 = 0): the search finds it to float precision, in those two
    features only."""
    from learned_optimizers import symbolic_open
    from metalearn.distill.optimizer import OpenSamples, fit_open_symbolic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 19)).astype(np.float32)
    d = 0.8 * x[:, 13] - 0.3 * x[:, 3]
    samples = OpenSamples(x, np.stack([d, np.zeros_like(d), np.ones_like(d)], axis=1).astype(np.float32))
    part = lambda i: OpenSamples(samples.features[i], samples.outputs[i])
    front, chosen = fit_open_symbolic(part(slice(600, None)), part(slice(0, 600)), max_length=7, generations=20,
                                      population=100)  # fmt: skip
    assert front[chosen].val_rmse < 1e-3 * d.std(), front
    assert variables(symbolic_open.parse(front[chosen].expression)) == {"sg", "sm3"}, front[chosen]


@pytest.mark.slow
def test_open_formula_student_end_to_end(tiny_config, cartpole, tmp_path):
    """``distill(open, "symbolic")`` on a tiny recording: a formula that beats every constant on the held-out
    elements, and a rule file with its expression, which loads and trains.

    The bound is relative to the best constant: on the held-out part no constant does better than the held-out
    mean, whose RMSE is the teacher's std there. The search at this budget gets to about 0.70 of it (measured;
    5 generations of 50 got only 0.85, a linear term in one feature); the bound is 0.8. Recomputed here from
    the recording (the same samples and held-out split: ``distill`` is deterministic given its seed), a
    constant's error is shown to fail the bound and the reported error is checked against the formula's own."""
    from learned_optimizers import symbolic_open
    from metalearn.distill import distill, write_report
    from metalearn.distill.optimizer import record_open_io, step_and_noise
    from metalearn.distill.run import holdout
    from metalearn.inner import Trainer

    teacher = make_rule("open", use_gru=False, hidden_size=8)
    mp = teacher.init(jax.random.PRNGKey(1))
    d = distill(teacher, mp, "symbolic", cartpole, tiny_config, seeds=1, max_samples=1000, generations=20,
                population=100, max_length=10)  # fmt: skip
    assert d.into == "symbolic" and d.front and np.isfinite(d.val_rmse)
    samples = record_open_io(teacher, mp, cartpole, tiny_config, 1, 0, max_samples=1000)
    val, fit = holdout(len(samples.features), 0)
    step = np.asarray(step_and_noise(jnp.asarray(samples.outputs))[0], np.float64)
    rmse = lambda pred: float(np.sqrt(np.mean((pred - step[val]) ** 2)))
    constant = rmse(np.full(len(val), step[fit].mean()))  # the best constant on the fitting part
    np.testing.assert_allclose([d.teacher_std, rmse(step[val].mean())], [step[val].std()] * 2, rtol=1e-5)
    assert constant >= d.teacher_std * (1 - 1e-6) > 0.8 * d.teacher_std  # any constant fails the bound
    tree = symbolic_open.parse(d.student.kwargs["expression"])
    formula = np.asarray(symbolic_open.step(tree, d.meta_params["c"], jnp.asarray(samples.features[val]).T))
    np.testing.assert_allclose(d.val_rmse, rmse(formula), rtol=1e-4)
    assert d.val_rmse < 0.8 * d.teacher_std, (d.val_rmse, d.teacher_std, d.front)
    write_report(d, tmp_path, teacher, mp, task="tiny")
    rule, student_mp, manifest = load_rule(tmp_path / "student.npz")
    assert rule.name == "symbolic_open" and manifest["distilled_from"] == "open"
    assert "0.001·e(features)" in (tmp_path / "distill.md").read_text()
    result = jax.jit(Trainer(cartpole, tiny_config, optimizer=rule.optimizer).train)(student_mp, jax.random.PRNGKey(0))
    assert not bool(result.diverged)
