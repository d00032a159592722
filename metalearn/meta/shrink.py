"""An experiment at a tiny budget with its structure untouched: every config can run a generation in a test.

Same rule (and its kwargs and start), strategy, regime, tasks, envs, curriculum kind and score, pair options;
smaller population, seeds, agents, envs, rollouts and budgets. Tasks whose agents live their level's
lifetime keep their number of updates (the lifetime is the level's, not the config's) with a smaller batch.
One rule kwarg follows the envs: a DiscoRL agent without replay learns from its rollout's streams, so its
``batch_size`` is their number.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from metalearn.curriculum.config import CurriculumConfig, renamed_kind
from metalearn.inner import TrainConfig, resolve_task
from metalearn.meta.config import MetaConfig
from metalearn.meta.registry import REGIMES

POPULATION = 4  # two antithetic pairs
ENVS, STEPS, UPDATES, EVAL_STEPS = 2, 8, 2, 16


def shrink(config: Mapping[str, Any], keep_batch: bool = False) -> dict[str, Any]:
    """A meta-config dict (as ``load_config_dict`` gives) at a tiny budget; ``config`` is not changed.

    ``keep_batch``: keep every inner training's batch (envs, steps, epochs, minibatches), cutting only its
    number of updates, so an env step costs what it costs at full size (``metalearn plan --time-small``).
    """
    d = copy.deepcopy(dict(config))
    d.update(generations=1, seeds_per_member=1, eval_seeds=2, eval_every=1)
    for field in ("tasks", "held_out_tasks"):
        for task in d.get(field, []):
            _, _, train = resolve_task(task["preset"], task.get("env"), task.get("env_kwargs"), task.get("train", {}))
            task["train"] = {**task.get("train", {}), **_tiny_train(train, keep_batch)}
    rule = d.get("rule", {})
    if not keep_batch and rule.get("name") == "disco" and rule.get("kwargs", {}).get("replay_capacity") == 0:
        d["rule"] = {**rule, "kwargs": {**rule["kwargs"], "batch_size": ENVS}}
    if d.get("curriculum") is not None:
        curriculum = d["curriculum"] = renamed_kind(d["curriculum"])
        levels = curriculum.get("levels_per_generation", CurriculumConfig.levels_per_generation)
        baseline = CurriculumConfig(**curriculum).baseline_config()
        curriculum.update(
            levels_per_generation=min(levels, 2),
            baseline_train={**curriculum.get("baseline_train", {}), **_tiny_train(baseline, keep_batch)},
        )
    regime = REGIMES.get(d.get("regime", MetaConfig.regime))  # an unknown one: MetaConfig refuses it, naming it
    if regime is not None:
        regime.shrink(d, POPULATION)  # its own settings (and the levels it needs per generation)
    return d


def _tiny_train(config: TrainConfig, keep_batch: bool = False) -> dict[str, Any]:
    """Overrides that shrink an inner config to 2 updates (or as many as before when agents live their levels'
    lifetimes); unless ``keep_batch``, also to 2 envs x 8 steps, one epoch of one minibatch and short
    evaluation rollouts."""
    updates = config.num_updates if config.level_lifetime else UPDATES
    if keep_batch:
        return {"total_timesteps": updates * config.batch_size, "final_window": min(config.final_window, updates)}
    steps = min(config.num_steps, STEPS)
    out = {
        "num_envs": ENVS,
        "num_steps": steps,
        "total_timesteps": updates * ENVS * steps,
        "update_epochs": 1,
        "num_minibatches": 1,
        "final_window": 1,
        "eval_envs": min(config.eval_envs, 2),
    }
    if config.eval_envs:
        out["eval_steps"] = EVAL_STEPS
    return out
