"""The engine's statistics: agreement with rliable on independent samples, and clustering where samples are not."""

import numpy as np
import pytest

from metalearn.analysis import clustered


def _rliable_intervals(x: np.ndarray, y: np.ndarray, reps: int):
    """rliable's own IQM and P(X > Y) intervals for score matrices (runs, tasks)."""
    from rliable import library as rly
    from rliable import metrics

    np.random.seed(1)  # noqa: NPY002 (rliable draws from numpy's global generator)
    point, ci = rly.get_interval_estimates({"x": x, "y": y}, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps)
    p_point, p_ci = rly.get_interval_estimates(
        {"xy": (x, y)}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=reps
    )
    return point, ci, float(p_point["xy"][0]), p_ci["xy"][:, 0]


def test_intervals_agree_with_rliable_on_independent_runs():
    rng = np.random.default_rng(3)
    tasks, runs = 4, 10
    offset = 3.0 * np.arange(tasks)  # tasks' levels differ: stratification matters
    x = rng.normal(0.4, 1.0, size=(runs, tasks)) + offset
    y = rng.normal(0.0, 1.0, size=(runs, tasks)) + offset
    reps = 4_000
    point, ci, p, p_ci = _rliable_intervals(x, y, reps)
    # The engine's arms: one instance each, (1, T, S).
    c = clustered.contrast(x.T[None], y.T[None], n_resamples=reps, seed=2)
    assert c.x_iqm.value == pytest.approx(point["x"][0], abs=1e-12)  # identical point estimates
    assert c.y_iqm.value == pytest.approx(point["y"][0], abs=1e-12)
    assert c.p_improvement.value == pytest.approx(p, abs=1e-12)
    # Intervals within Monte-Carlo error of rliable's (different generators, same bootstrap): a percentile's
    # error at 4k resamples is about 2% of the interval's width; 8% allows for both sides.
    for ours, theirs in ((c.x_iqm, ci["x"][:, 0]), (c.y_iqm, ci["y"][:, 0]), (c.p_improvement, p_ci)):
        width = theirs[1] - theirs[0]
        assert abs(ours.lo - theirs[0]) < 0.08 * width and abs(ours.hi - theirs[1]) < 0.08 * width
    # A non-stratified bootstrap (resampling runs across tasks together) would differ from rliable's by more:
    # pooling every value into one task lets a resample's mix of tasks vary, which widens the interval.
    pooled = clustered.contrast(x.reshape(1, 1, -1), y.reshape(1, 1, -1), n_resamples=reps, seed=2)
    assert pooled.x_iqm.hi - pooled.x_iqm.lo > 1.3 * (ci["x"][1, 0] - ci["x"][0, 0])


def test_clustered_intervals_are_wider_than_iid_ones_when_rules_differ():
    """3 meta-seeds whose means differ: the arm's uncertainty is mostly between rules, which an i.i.d. bootstrap
    over the pooled agents hides."""
    rng = np.random.default_rng(0)
    rule_means = np.array([0.0, 1.0, 2.0])[:, None, None]
    x = rule_means + rng.normal(0, 0.3, size=(3, 5, 8))  # (G=3 meta-seeds, T=5 tasks, S=8 seeds)
    y = rng.normal(1.0, 0.3, size=(1, 5, 24))  # a baseline: one instance, the same number of agents
    iid = np.moveaxis(x, 0, 1).reshape(1, 5, 24)  # the same agents, treated as independent
    c, i = clustered.contrast(x, y, seed=0), clustered.contrast(iid, y, seed=0)
    assert c.x_iqm.value == i.x_iqm.value and c.difference.value == i.difference.value  # same data, same points
    width = lambda v: v.hi - v.lo
    assert width(c.x_iqm) > 3 * width(i.x_iqm)
    assert width(c.difference) > 2 * width(i.difference) and width(c.p_improvement) > 2 * width(i.p_improvement)
    # With identical rules (no between-rule spread) the two agree within Monte-Carlo error.
    same = rng.normal(0, 0.3, size=(3, 5, 8))
    a = clustered.arm_iqm(same, n_resamples=4000)
    b = clustered.arm_iqm(np.moveaxis(same, 0, 1).reshape(1, 5, 24), n_resamples=4000)
    assert width(a) == pytest.approx(width(b), rel=0.25)


def test_resampling_draws_whole_instances_then_seeds_within_them():
    # Instance g holds only the value g on every task: a resample's values on each task come from the instances
    # drawn, and the instance draw is shared by all tasks.
    x = np.broadcast_to(np.arange(4.0)[:, None, None], (4, 3, 5))
    r = clustered.resample(x, 200, np.random.default_rng(0))  # (200, 4, 3, 5)
    assert r.shape == (200, 4, 3, 5)
    assert np.all(r == r[:, :, :1, :1])  # one instance's agents are one instance's, on every task
    drawn = r[:, :, 0, 0]  # (200, 4) the instances each resample drew
    assert set(np.unique(drawn)) == {0, 1, 2, 3}  # every instance can be drawn
    assert any(len(set(row)) < 4 for row in drawn)  # with replacement: some resamples repeat an instance
    # Within an instance, seeds are redrawn per task: a (G=1, T=2, S=50) arm's two tasks get different draws.
    y = np.broadcast_to(np.arange(50.0), (1, 2, 50))
    ry = clustered.resample(y, 10, np.random.default_rng(0))
    assert not np.array_equal(ry[:, 0, 0], ry[:, 0, 1])


def test_verdict_words():
    iv = clustered.Interval
    assert clustered.verdict(iv(2.0, 0.5, 3.0), iv(0.8, 0.6, 0.9), margin=1.0, seeds=16) == "better"
    assert clustered.verdict(iv(-2.0, -3.0, -0.5), iv(0.2, 0.1, 0.4), margin=1.0, seeds=16) == "worse"
    # The difference excludes 0 but P's interval holds 0.5: not enough for `better`.
    assert clustered.verdict(iv(2.0, 0.5, 3.0), iv(0.6, 0.45, 0.8), margin=1.0, seeds=16) == "not resolved (16 seeds)"
    assert clustered.verdict(iv(0.1, -0.4, 0.6), iv(0.5, 0.3, 0.7), margin=1.0, seeds=16) == "equivalent within ±1"
    # Overlapping, and wider than the margin: not resolved, never "matches".
    assert clustered.verdict(iv(0.1, -2.0, 2.0), iv(0.5, 0.2, 0.8), margin=1.0, seeds=8) == "not resolved (8 seeds)"
    with pytest.raises(ValueError, match=r"margin=0 is invalid; allowed: a positive number"):
        clustered.verdict(iv(0, 0, 0), iv(0.5, 0.5, 0.5), margin=0, seeds=8)


def test_unit_mean_stderr_is_over_instances_or_else_over_seeds():
    # G > 1: instance g holds only the value g, so the units are 0, 1, 2: mean 1, s.e. 1 / sqrt(3), whatever T, S.
    x = np.broadcast_to(np.arange(3.0)[:, None, None], (3, 4, 5))
    mean, se = clustered.unit_mean_stderr(x)
    assert mean == pytest.approx(1.0) and se == pytest.approx(1 / np.sqrt(3))
    # G = 1: each seed's mean over the tasks is a unit; a per-task offset moves the mean, not the error.
    rng = np.random.default_rng(0)
    y = rng.normal(size=(1, 3, 8))
    seeds = y[0].mean(axis=0)  # (8,)
    expected = (seeds.mean(), seeds.std(ddof=1) / np.sqrt(8))
    assert clustered.unit_mean_stderr(y) == pytest.approx(expected, rel=1e-12)
    shifted = clustered.unit_mean_stderr(y + np.array([0.0, 3.0, 6.0])[None, :, None])
    assert shifted == pytest.approx((expected[0] + 3.0, expected[1]), rel=1e-12)
    assert clustered.unit_mean_stderr([2.0, 4.0]) == pytest.approx((3.0, 1.0))  # (S,): one task, the seeds
    np.testing.assert_allclose(clustered.unit_means(x), [0.0, 1.0, 2.0])
    np.testing.assert_allclose(clustered.unit_means(y), seeds, rtol=1e-12)
    summary = clustered.arm_summary(x + rng.normal(0, 0.1, x.shape))
    assert summary["unit_means"] == pytest.approx([0.0, 1.0, 2.0], abs=0.1) and len(summary["iqm"]) == 3
    assert summary["iqm"][1] < 0.5 < 1.5 < summary["iqm"][2]  # clustered: a resample can draw one instance thrice


def test_judge_is_the_engines_row_for_the_same_scores(tmp_path):
    from metalearn.evaluation import analyse, parse_spec, write_per_seed, write_spec

    rng = np.random.default_rng(5)
    rules = np.array([0.2, 0.5, 0.8])[:, None, None] + rng.normal(0, 0.05, (3, 1, 4))  # (G=3, T=1, S=4)
    preset = rng.normal(0.45, 0.05, (1, 1, 12))
    spec = {
        "name": "judge",
        "seeds": 12,
        "tasks": [{"preset": "cartpole", "name": "level", "score_range": [0, 1]}],
        "arms": [{"label": "AR", "rules": ["dpo", "dpo", "dpo"]}],
        "baseline": {"label": "A2C"},
    }
    write_spec(tmp_path, parse_spec(spec))
    for label, x in (("AR", rules), ("baseline_preset", preset)):
        agents = lambda v: {"final_return": v.tolist(), "eval_return": [None] * v.size, "diverged": [0] * v.size}
        write_per_seed(tmp_path, "level", label, [agents(x[g, 0]) for g in range(x.shape[0])])
    (row,) = analyse(tmp_path)["contrasts"]
    ours = clustered.judge(rules, preset, margin=0.05)  # the spec's margin: 5% of the score range
    for key in ("x_iqm", "y_iqm", "difference", "p_improvement", "margin", "verdict"):
        assert ours[key] == row[key], key
    assert ours["verdict"] == "not resolved (3 rules × 4 seeds vs 1 × 12)"
    # No margin stated: 5% of |Y's IQM|; arms of one instance each state their agents per task.
    far = clustered.judge(preset + 1.0, preset)
    assert far["margin"] == pytest.approx(0.05 * abs(far["y_iqm"][0])) and far["verdict"] == "better"
    assert clustered.design(preset[:, :, :8], preset) == 8


def test_bad_scores_are_refused_in_one_line():
    with pytest.raises(ValueError, match=r"scores must be finite; 1 are NaN"):
        clustered.as_arm([1.0, np.nan])
    with pytest.raises(ValueError, match=r"X has 2 tasks and Y 3"):
        clustered.contrast(np.zeros((1, 2, 4)), np.zeros((1, 3, 4)))
