"""metalearn.analysis: probes against Adam's closed form, drift surfaces, IQM/bootstrap, and `metalearn analyze`."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from learned_optimizers import lr_schedule
from metalearn import analysis
from metalearn.cli import main
from metalearn.evaluation import parse_spec, write_per_seed
from metalearn.rules import make_rule, published_rule, save_rule

LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-5


def adam_rule(lr: float = LR):
    """The ``lr_schedule`` rule at a constant learning rate: exactly Adam."""
    rule = make_rule("lr_schedule", knots=4, init_lr=lr)
    return rule, rule.init(jax.random.PRNGKey(0))


def adam_closed_form(history: np.ndarray, lr) -> np.ndarray:
    """Adam's update after the gradients ``history`` (T, ...): −lr · m̂ / (√v̂ + ε), in float64."""
    h = np.asarray(history, np.float64)
    t = h.shape[0]
    w1 = (1 - B1) * B1 ** np.arange(t - 1, -1, -1)
    w2 = (1 - B2) * B2 ** np.arange(t - 1, -1, -1)
    m = np.tensordot(w1, h, axes=1) / (1 - B1**t)
    v = np.tensordot(w2, h**2, axes=1) / (1 - B2**t)
    return -lr * m / (np.sqrt(v) + EPS)


# ------------------------------------------------------------------ optimizers
@pytest.mark.parametrize("which", ["lr_schedule", "optax.adam"])
def test_first_step_of_adam_is_lr_times_sign(which):
    tx = adam_rule()[0].optimizer(adam_rule()[1]) if which == "lr_schedule" else optax.adam(LR, eps=EPS)
    umap = analysis.update_vs_gradient(tx, steps=1, progresses=(0.0, 0.6, 1.0))
    g = umap.gradients
    assert umap.updates.shape == (3, g.size)
    np.testing.assert_allclose(umap.updates, np.broadcast_to(-LR * g / (np.abs(g) + EPS), (3, g.size)), rtol=1e-5)
    big = np.abs(g) >= 1e-3  # far above ε: ±lr
    np.testing.assert_allclose(umap.updates[:, big], -LR * np.sign(g[big]) * np.ones((3, 1)), rtol=2e-2)


def test_later_steps_follow_adams_formula_with_the_learned_rate():
    """A random gradient history, a non-constant schedule, read at progress 0.3 on the last step."""
    rule = make_rule("lr_schedule", knots=4)
    meta = {"log_lr": jnp.log(jnp.array([1e-4, 1e-3, 3e-3, 5e-4], jnp.float32))}
    history = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (7, 5, 3))) * np.logspace(-4, -1, 3)
    progress = np.linspace(0.0, 0.3, 7)
    out = analysis.probe_updates(rule.optimizer(meta), history, training_progress=progress)
    lr = float(lr_schedule.learning_rate(meta, jnp.float32(0.3)))
    expected = adam_closed_form(history, lr)
    for net in ("actor", "critic"):
        assert out[net].shape == (5, 3)
        np.testing.assert_allclose(out[net], expected, rtol=1e-4, atol=1e-9)


def test_momentum_probe_sets_adams_first_moment():
    tx = optax.adam(LR, eps=EPS)
    mmap = analysis.update_vs_momentum(tx, steps=12)
    g, m = mmap.gradients, mmap.momenta
    h = m / (1 - B1**12)
    history = np.concatenate(
        [np.broadcast_to(h[None, :, None], (12, m.size, g.size)), np.broadcast_to(g, (1, m.size, g.size))]
    )
    np.testing.assert_allclose(mmap.updates, adam_closed_form(history, LR), rtol=1e-4, atol=1e-10)
    # Adam's first moment before the step is m itself (bias-uncorrected EMA at β = 0.9).
    m_before = np.tensordot((1 - B1) * B1 ** np.arange(11, -1, -1), np.broadcast_to(h, (12, m.size)), axes=1)
    np.testing.assert_allclose(m_before, m, rtol=1e-5)


def test_step_size_traces_the_learned_schedule():
    rule = make_rule("lr_schedule", knots=3)
    meta = {"log_lr": jnp.log(jnp.array([1e-4, 2e-3, 5e-4], jnp.float32))}
    s = analysis.step_size_over_training(rule.optimizer(meta), magnitudes=(1e-3, 1e-1), progresses=np.linspace(0, 1, 5))
    lr = np.asarray(lr_schedule.learning_rate(meta, jnp.asarray(s.progresses)))
    assert s.step.shape == (5, 2)
    np.testing.assert_allclose(s.step, np.stack([lr, lr], axis=1), rtol=2e-2)


def test_learned_noise_is_on_the_actor_only_and_adam_has_none():
    adam = analysis.learned_noise(optax.adam(LR), progresses=np.array([0.0, 1.0]), keys=4)
    for std in (adam.actor_std, adam.critic_std, adam.actor_off_std):
        np.testing.assert_array_equal(std, 0.0)
    rule, meta = published_rule("breakout")
    n = analysis.learned_noise(rule.optimizer(meta), progresses=np.array([0.0, 1.0]), keys=8)
    assert n.actor_std.shape == (2,) and np.all(n.actor_std > 1e-5)
    assert np.all(n.critic_std < 0.2 * n.actor_std)  # only what OPEN's zero-mean step spreads
    np.testing.assert_allclose(n.actor_off_std, 0.0, atol=1e-9)
    assert set(n.samples) == {"actor", "critic", "actor, mask off"} and n.samples["actor"].size == 8 * 66


def test_per_layer_updates_on_the_trainers_networks():
    lu = analysis.per_layer_updates(optax.adam(LR), progresses=(0.0, 1.0), steps=3)
    assert len(lu.names) == 12 and lu.names[0] == "actor/Dense_0/bias" and lu.names[-1] == "critic/Dense_2/kernel"
    assert lu.update.shape == lu.gradient.shape == (2, 12) and lu.param.shape == (12,)
    assert np.all(lu.update > 0) and np.all(lu.update <= LR * 1.001)  # Adam: |u| ≤ lr per element
    assert np.all(lu.gradient > 0)


def test_optimizer_figures_have_labelled_axes(tmp_path):
    tx = optax.adam(LR)
    figs = [
        analysis.update_vs_gradient_figure(analysis.update_vs_gradient(tx, progresses=(0.0, 1.0)), "adam"),
        analysis.update_vs_momentum_figure(analysis.update_vs_momentum(tx), "adam"),
        analysis.step_size_figure(analysis.step_size_over_training(tx, progresses=np.array([0.0, 1.0])), "adam"),
        analysis.noise_figure(analysis.learned_noise(tx, progresses=np.array([0.0]), keys=2), "adam"),
    ]
    for i, fig in enumerate(figs):
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() or not ax.get_xticks().size, f"figure {i}: unlabelled x axis"
        path = analysis.save_figure(fig, tmp_path / f"{i}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------- drifts
def test_ppo_clip_surface_is_the_clip_formula():
    s = analysis.drift_surface(make_rule("ppo_clip", clip_eps=0.2), {})
    r, a = np.meshgrid(s.ratios, s.advantages)
    expected = np.maximum((r - np.clip(r, 0.8, 1.2)) * a, 0.0)
    assert s.values.shape == (81, 101)
    np.testing.assert_allclose(s.values, expected, atol=1e-6)


def test_drift_surfaces_of_dpo_and_lpo():
    from objectives import dpo_drift

    s = analysis.drift_surface(make_rule("dpo"), {})
    r, a = np.meshgrid(s.ratios, s.advantages)
    np.testing.assert_allclose(s.values, np.asarray(dpo_drift(jnp.asarray(r), jnp.asarray(a))), atol=1e-6)
    lpo0 = make_rule("lpo")  # zero-init: exactly PPO-clip
    ppo = analysis.drift_surface(make_rule("ppo_clip"), {})
    np.testing.assert_allclose(
        analysis.drift_surface(lpo0, lpo0.init(jax.random.PRNGKey(0))).values, ppo.values, atol=1e-6
    )
    ta = make_rule("ta_lpo", zero_init=False)
    meta = ta.init(jax.random.PRNGKey(1))
    over = analysis.drift_over_progress(ta, meta, progresses=(0.0, 1.0))
    assert not np.allclose(over[0].values, over[1].values)  # it reads progress
    for s in over:
        assert np.all(s.values >= 0)
        np.testing.assert_allclose(s.values[:, 50], 0.0, atol=1e-6)  # f(1, A) = 0 (r = 1 is column 50)
    fig = analysis.drift_progress_figure(over, "ta_lpo")
    assert fig.axes and analysis.drift_figure({"ppo": ppo, "dpo": s}).axes


def test_a_non_drift_objective_is_refused():
    with pytest.raises(ValueError, match="'a2c' is not a drift objective; drift rules: ppo_clip, dpo, lpo, ta_lpo"):
        analysis.drift_surface(make_rule("a2c"), {})


# ------------------------------------------------------------------------- LPG
def test_lpg_targets_see_only_the_rest_of_their_own_episode():
    """The backward GRU: a reward at step s moves the targets of steps ≤ s in its episode, and nothing else."""
    rule = make_rule("lpg", hidden=16, embed=4, target_dim=4)
    meta = rule.init(jax.random.PRNGKey(0))
    traj = lambda rewards: analysis.synthetic_trajectory(4, length=24, rewards=rewards, dones=(11, 23))
    base = analysis.lpg_targets(rule, meta, traj({}))
    assert base.pi_hat.shape == (1, 24) and base.y_hat.shape == (1, 24, 4) and base.reward.shape == (24,)
    np.testing.assert_allclose(base.y_hat.sum(-1), 1.0, rtol=1e-5)  # ŷ is a distribution
    for step, episode in ((6, range(0, 12)), (15, range(12, 24))):
        moved = analysis.lpg_targets(rule, meta, traj({step: 1.0}))
        changed = ~np.isclose(moved.pi_hat[0], base.pi_hat[0], rtol=0, atol=1e-7)
        changed |= ~np.all(np.isclose(moved.y_hat[0], base.y_hat[0], rtol=0, atol=1e-7), axis=-1)
        expected = np.array([t <= step and t in episode for t in range(24)])
        np.testing.assert_array_equal(changed, expected, err_msg=f"reward at step {step}")


def test_only_ta_lpg_reads_progress_and_other_rules_are_refused():
    lpg = make_rule("lpg", hidden=8, embed=4, target_dim=3)
    ta = make_rule("ta_lpg", hidden=8, embed=4, target_dim=3)
    plain = analysis.lpg_targets(lpg, lpg.init(jax.random.PRNGKey(0)), progresses=(0.0, 1.0))
    np.testing.assert_array_equal(plain.pi_hat[0], plain.pi_hat[1])
    over = analysis.lpg_targets(ta, ta.init(jax.random.PRNGKey(0)), progresses=(0.0, 1.0), num_updates=64)
    assert over.temporal and over.pi_hat.shape == (2, 48) and not np.allclose(over.pi_hat[0], over.pi_hat[1])
    assert analysis.lpg_figure(over, "ta_lpg").axes
    # progress dependence: exactly 0 for LPG; by hand for a target that moves only with progress
    assert analysis.progress_dependence(plain) == {"pi_hat": 0.0, "y_hat": 0.0}
    assert 0 < analysis.progress_dependence(over)["pi_hat"] <= 1
    only = plain._replace(pi_hat=np.array([[1.0] * 48, [3.0] * 48]), y_hat=np.ones((2, 48, 3)) / 3)
    assert analysis.progress_dependence(only) == {"pi_hat": 1.0, "y_hat": 0.0}
    half = plain._replace(
        pi_hat=np.array([[0.0, 2.0], [2.0, 4.0]])
    )  # across progress ±1 (Σ 4), in all (−2, 0, 0, 2) (Σ 8)
    assert analysis.progress_dependence(half)["pi_hat"] == pytest.approx(np.sqrt(4 / 8))
    with pytest.raises(ValueError, match="'ppo_clip' is not an LPG objective; allowed: lpg, ta_lpg"):
        analysis.lpg_targets(make_rule("ppo_clip"), {})
    with pytest.raises(ValueError, match="step 48 is outside the trajectory; allowed: 0 … 47"):
        analysis.synthetic_trajectory(3, rewards={48: 1.0})


# ----------------------------------------------------------------------- stats
def test_iqm_mean_stderr_and_bootstrap_by_hand():
    assert analysis.iqm([1, 2, 3, 4]) == 2.5  # drops 1 and 4
    assert analysis.iqm([100, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # sorted 1..7,100: keeps 3, 4, 5, 6
    assert analysis.iqm([1, 2, 3, 4, 50]) == 3.0  # floor(5/4) = 1 from each end
    assert analysis.iqm([5.0]) == 5.0
    np.testing.assert_allclose(analysis.iqm(np.array([[1, 2, 3, 4], [0, 0, 10, 10]]), axis=-1), [2.5, 5.0])
    mean, se = analysis.mean_stderr([1, 2, 3, 4])
    assert mean == 2.5 and se == pytest.approx(math.sqrt(5 / 3) / 2)
    assert analysis.mean_stderr([3.0]) == (3.0, 0.0)
    # Two points: resampled means are 0, ½, 1 with probabilities ¼, ½, ¼, so the 95% interval is [0, 1].
    assert analysis.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert analysis.bootstrap_ci([2.0, 2.0, 2.0], analysis.iqm) == (2.0, 2.0)
    x = np.random.default_rng(1).normal(10.0, 2.0, 400)
    lo, hi = analysis.bootstrap_ci(x, seed=5)
    assert analysis.bootstrap_ci(x, seed=5) == (lo, hi) and analysis.bootstrap_ci(x, seed=6) != (lo, hi)
    m, se = analysis.mean_stderr(x)
    assert lo == pytest.approx(m - 1.96 * se, abs=0.3 * se) and hi == pytest.approx(m + 1.96 * se, abs=0.3 * se)
    outlier = [*range(1, 20), 1000]  # one diverged-looking seed: the IQM (and its CI) barely moves, the mean does
    s = analysis.summarize(outlier)
    assert s.n == 20 and s.iqm == 10.5 and s.iqm_ci[0] <= 10.5 <= s.iqm_ci[1]
    assert s.iqm_ci[1] - s.iqm_ci[0] < 0.2 * (s.mean_ci[1] - s.mean_ci[0])
    with pytest.raises(ValueError, match="no values"):
        analysis.summarize([])


def test_curve_mean_stderr_is_each_points_mean_stderr_over_runs_with_a_value():
    rng = np.random.default_rng(2)
    curves = rng.normal(size=(5, 7))
    curves[1:, 2] = np.nan  # one run logged this point: error 0
    curves[:, 5] = np.nan  # no run did: NaN
    curves[[0, 3], 6] = np.nan
    mean, se = analysis.curve_mean_stderr(curves)
    assert mean.shape == se.shape == (7,)
    for u in (0, 1, 3, 4, 6):
        ok = np.isfinite(curves[:, u])
        assert (mean[u], se[u]) == pytest.approx(analysis.mean_stderr(curves[ok, u]), rel=1e-12)
    assert (mean[2], se[2]) == (curves[0, 2], 0.0)
    assert np.isnan(mean[5]) and np.isnan(se[5])
    with pytest.raises(ValueError, match=r"curves of shape \(3,\); allowed: \(runs, points\)"):
        analysis.curve_mean_stderr(np.zeros(3))


def test_stats_agree_with_scipy():
    """An independent implementation: scipy's trimmed mean is the IQM, and its percentile bootstrap interval
    matches ours up to resampling noise."""
    from scipy import stats

    rng = np.random.default_rng(3)
    for n in (5, 8, 13, 64):
        x = rng.lognormal(size=n)
        assert analysis.iqm(x) == pytest.approx(stats.trim_mean(x, 0.25), rel=1e-12)
    x = rng.normal(3.0, 1.0, 200)
    for statistic, ours in ((np.mean, np.mean), (lambda v, axis=-1: stats.trim_mean(v, 0.25, axis=axis), analysis.iqm)):
        ref = stats.bootstrap((x,), statistic, n_resamples=20_000, method="percentile", random_state=0)
        lo, hi = analysis.bootstrap_ci(x, ours, n_resamples=20_000)
        width = ref.confidence_interval.high - ref.confidence_interval.low
        assert lo == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
        assert hi == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)


def test_probability_of_improvement_is_the_mann_whitney_u_statistic_averaged_over_tasks():
    """Independent check: scipy's Mann-Whitney U over n·m on each task (ties count ½), then the task mean."""
    from scipy import stats

    rng = np.random.default_rng(4)
    xs = [rng.normal(0.3, 1.0, 12), rng.integers(0, 3, 9).astype(float), rng.normal(0.0, 1.0, 20)]
    ys = [rng.normal(0.0, 1.0, 8), rng.integers(0, 3, 7).astype(float), rng.normal(0.0, 1.0, 20)]  # ties on task 2
    expected = np.mean([stats.mannwhitneyu(x, y).statistic / (x.size * y.size) for x, y in zip(xs, ys, strict=True)])
    p, (lo, hi) = analysis.probability_of_improvement(xs, ys)
    assert p == pytest.approx(expected, rel=1e-12) and lo < p < hi
    assert analysis.probability_of_improvement(ys, xs)[0] == pytest.approx(1.0 - p, rel=1e-12)  # P(Y>X) = 1 - P(X>Y)
    assert analysis.probability_of_improvement([np.arange(5.0) + 10], [np.arange(5.0)]) == (1.0, (1.0, 1.0))
    with pytest.raises(ValueError, match="one sample per task"):
        analysis.probability_of_improvement(xs, ys[:2])


# --------------------------------------------------------------------- analyze
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished run directory as ``metalearn.meta.run`` writes it, with made-up numbers (no training:
    the real writer is exercised by test_meta.py and by the meta-training notebook, which analyzes its run)."""
    from metalearn.meta import MetaConfig
    from metalearn.meta.checkpoint import CHECKPOINT_FORMAT
    from metalearn.pytree_io import save_pytree
    from metalearn.runs import append_jsonl, write_json

    from .conftest import tiny_meta_dict

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    (run_dir / "rules").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    config = MetaConfig.from_dict(tiny_meta_dict(generations=2))
    write_json(
        run_dir / "config.json", {"kind": "meta", "name": "tiny", "config": config.to_dict(), "search_hash": "x"}
    )
    append_jsonl(run_dir / "metrics.jsonl", [
        {"generation": g, "best_fitness": 0.1 * g, "mean_fitness": 0.05 * g, "median_fitness": 0.04 * g, "sigma": 0.5,
         "nan_count": 0, "seconds": 1.0, "task_fitness": {"cartpole": 0.05 * g}}
        for g in (1, 2)
    ])  # fmt: skip
    summary = lambda m: {"mean": m, "stderr": 1.0}
    task = lambda g: {"held_out": False, "return": summary(20.0 + g), "fitness": summary(0.04)}
    append_jsonl(run_dir / "eval.jsonl", [{"generation": g, "tasks": {"cartpole": task(g)}} for g in (0, 2)])
    rule = make_rule(config.rule.name, **config.rule.kwargs)
    save_rule(run_dir / "rules" / "mean.npz", rule, rule.init(jax.random.PRNGKey(0)), generation=2)
    save_pytree(run_dir / "checkpoints" / "gen_000002.npz", {"x": np.zeros(2)}, format=CHECKPOINT_FORMAT)
    return run_dir


OPTIMIZER_PNGS = {"update_vs_gradient.png", "update_vs_momentum.png", "step_size.png", "learned_noise.png",
                  "per_layer_updates.png"}  # fmt: skip


def _linked_images(report) -> set[str]:
    text = report.read_text()
    names = {line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")}
    for name in names:
        assert (report.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    return names


def test_analyze_a_run_directory(tiny_run, capsys):
    assert main(["analyze", str(tiny_run)]) == 0
    report = tiny_run / "analysis.md"
    assert f"report: {report}" in capsys.readouterr().out
    assert _linked_images(report) == {"fitness_curves.png", "held_out_evals.png"} | OPTIMIZER_PNGS
    text = report.read_text()
    assert "2 generations; population mean fitness 0.050 → 0.100, best member 0.200" in text
    assert "Rule `lr_schedule` (knots=4, init_lr=0.0001, generation 2)" in text


@pytest.mark.slow
def test_analyze_a_published_rule(tmp_path):
    assert main(["analyze", "published:breakout", "--out", str(tmp_path / "pub")]) == 0
    assert _linked_images(tmp_path / "pub" / "analysis.md") == OPTIMIZER_PNGS


def test_analyze_a_drift_rule_file_and_a_results_folder(tmp_path):
    rule = make_rule("ta_lpo", zero_init=False)
    save_rule(tmp_path / "ta.npz", rule, rule.init(jax.random.PRNGKey(0)), generation=7, num_updates=64)
    assert main(["analyze", str(tmp_path / "ta.npz")]) == 0
    report = tmp_path / "ta_analysis" / "analysis.md"
    assert _linked_images(report) == {"drift.png", "drift_over_progress.png"}
    assert "N = 64 updates (the horizon the rule file records)" in report.read_text()
    # An engine results folder is re-analysed in place; a folder of neither kind is refused in one line.
    spec = {"name": "c", "seeds": 4, "tasks": [{"preset": "cartpole"}], "arms": [{"label": "OPEN", "set": []}]}
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "spec.json").write_text(json.dumps(parse_spec(spec).to_dict()))
    for label, x in (("OPEN", [9.0, 14.0, 13.0, 12.0]), ("baseline_preset", [10.0, 12.0, 11.0, 30.0])):
        write_per_seed(
            tmp_path / "cmp", "cartpole", label, [{"final_return": x, "eval_return": [None] * 4, "diverged": [0] * 4}]
        )
    assert main(["analyze", str(tmp_path / "cmp")]) == 0
    assert "| cartpole | baseline (preset) | 4 | 11.50 [" in (tmp_path / "cmp" / "table.md").read_text()  # IQM
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text("{}")  # the removed compare_rules.py's format
    assert main(["analyze", str(tmp_path / "old")]) == 2


def test_analyze_an_lpg_rule_file(tmp_path):
    rule = make_rule("ta_lpg", hidden=8, embed=4, target_dim=4)
    save_rule(tmp_path / "ta_lpg.npz", rule, rule.init(jax.random.PRNGKey(0)))
    assert main(["analyze", str(tmp_path / "ta_lpg.npz"), "--num-updates", "64"]) == 0
    report = tmp_path / "ta_lpg_analysis" / "analysis.md"
    assert _linked_images(report) == {"lpg_targets.png"}
    assert "at training progresses 0, 0.5, 1" in report.read_text()


def test_analyze_bad_input_names_it_and_what_is_allowed(tmp_path, tiny_run, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "notes.txt").write_text("hi")
    checkpoint = next((tiny_run / "checkpoints").glob("*.npz"))
    cases = [
        ([tmp_path / "missing"], "missing: no such file or directory; allowed: a meta-training run directory"),
        ([tmp_path / "empty"], "empty: a directory with neither config.json nor spec.json; allowed:"),
        ([tmp_path / "corrupt.npz"], "corrupt.npz: not a readable .npz file"),
        ([checkpoint], "expected 'metalearn-rule'"),
        ([tmp_path / "notes.txt"], "notes.txt: unsupported file type '.txt'; allowed:"),
        (["published:brekout"], "no published rule 'brekout'; known: ant, asterix, breakout"),
        ([tiny_run, "--num-updates", "0"], "num_updates=0 is invalid; allowed: an integer >= 1"),
    ]
    for args, message in cases:
        assert main(["analyze", *map(str, args), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "out").exists()  # nothing written
