"""Exact resume, once for every regime x curriculum x rule kind: a run stopped after a generation and resumed
writes what the same run straight through writes, bit for bit (checkpoint, rules, metrics, evaluations).

Where SIGKILL at random moments and damaged run directories are tested: tests/test_reliability.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from metalearn.meta import MetaConfig, resume_run, start_run
from metalearn.runs import RunDir

from .conftest import assert_same_checkpoints, tiny_meta_dict
from .test_curriculum import curriculum_dict
from .test_metagrad import _buffer_dict, metagrad_dict


def _cases() -> dict[str, tuple[dict, int]]:
    """name -> (config dict, generations straight); the cut run stops after one generation fewer."""
    mg_buffer = _buffer_dict("alg_regret")
    mg_buffer["eval_every"] = 1
    return {
        # ES over fresh agents, a learned optimizer hyper-parameter schedule, the strategy's Adam state
        "es-none-lr_schedule": ({**tiny_meta_dict(generations=3, population=4, timesteps=1024), "eval_every": 1}, 3),
        # ES with a scoring curriculum: PLR's buffer and the regret baseline
        "es-plr-lpg": ({**curriculum_dict(generations=3), "eval_every": 1}, 3),
        # persistent agents mid-lifetime (20 updates, 1 per meta-step) with their critics, levels and meta-Adam
        "meta_gradient-none-lpg": ({**metagrad_dict("lpg", 1, updates=20), "generations": 3, "eval_every": 1}, 3),
        # persistent agents on GROOVE's buffer, lifetimes ending and scored by algorithmic regret (antagonists)
        "meta_gradient-groove-lpg": ({**mg_buffer, "generations": 2}, 2),
    }


@pytest.mark.slow  # each case compiles its generation and evaluation (10-60 s)
@pytest.mark.parametrize("case", list(_cases()))
def test_a_stopped_run_resumes_bit_identically(case, tmp_path):
    d, generations = _cases()[case]
    straight = RunDir(start_run(MetaConfig.from_dict(d), run_dir=tmp_path / "straight", progress=False))
    cut = start_run(
        MetaConfig.from_dict({**d, "generations": generations - 1}), run_dir=tmp_path / "cut", progress=False
    )
    resumed = RunDir(resume_run(cut, generations=generations, progress=False))

    leaves = assert_same_checkpoints(straight.path, resumed.path)
    if "none" not in case:
        assert any(k.startswith("levels") for k in leaves), "the curriculum's state is not in the checkpoint"
    drop_seconds = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    rows = drop_seconds(resumed.read_metrics())
    assert [r["generation"] for r in rows] == list(range(1, generations + 1))
    assert rows == drop_seconds(straight.read_metrics())
    assert resumed.read_evals() == straight.read_evals() and len(straight.read_evals()) == generations + 1
    for which in ("mean", "best"):
        a, b = np.load(straight.rule(which)), np.load(resumed.rule(which))
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            if a[name].dtype.kind in "fiub":
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{which}: {name}")
    result = resumed.read_result()
    assert result["generations"] == generations and result == straight.read_result()
    assert (resumed / RunDir.FITNESS_PLOT).is_file()
