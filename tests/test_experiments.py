"""Every experiment config meta-trains: one generation of each, shrunk by `shrink` (structure untouched)."""

from __future__ import annotations

import numpy as np
import pytest

from metalearn.meta import MetaConfig, MetaGradientTrainer, list_experiments, load_config_dict, make_meta_trainer
from metalearn.meta.shrink import shrink


@pytest.mark.slow  # each compiles its experiment's generation (~10-60 s)
@pytest.mark.parametrize("name", list_experiments())
def test_every_experiment_runs_a_generation_on_a_tiny_override(name):
    full = MetaConfig.from_dict(load_config_dict(name))
    config = MetaConfig.from_dict(shrink(load_config_dict(name)))
    # The rule is kept, but for the one kwarg that follows the envs (a DiscoRL agent without replay's batch_size).
    follows_envs = lambda r: r.name == "disco" and r.kwargs.get("replay_capacity") == 0
    kept = lambda r: (r.name, r.start, {k: v for k, v in r.kwargs.items() if k != "batch_size" or not follows_envs(r)})
    assert kept(config.rule) == kept(full.rule)
    assert (config.strategy.name, config.regime) == (full.strategy.name, full.regime)
    assert [t.name for t in config.tasks] == [t.name for t in full.tasks]
    trainer = make_meta_trainer(config)
    state, metrics = trainer.generation(trainer.init())
    assert int(state.generation) == 1 and int(metrics.nan_count) == 0
    assert np.isfinite(np.asarray(metrics.fitness)).all()
    if isinstance(trainer, MetaGradientTrainer):
        mg = metrics.search["meta_gradient"]
        assert np.isfinite(mg["meta_loss"]) and float(mg["grad_norm"]) > 0
