"""bench/device_check.sh: the accelerator check refuses plainly where there is no GPU (CI never has one)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a machine with nvidia-smi may have a GPU")
def test_device_check_refuses_on_a_machine_without_a_gpu():
    out = subprocess.run(["bash", "bench/device_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "no NVIDIA GPU here" in out.stderr and "make bench" in out.stderr
    assert out.stdout == ""  # nothing ran


def test_device_check_refuses_an_unknown_step_naming_the_allowed_ones():
    out = subprocess.run(
        ["bash", "bench/device_check.sh", "bench_open", "bench_opn"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "unknown step 'bench_opn'" in out.stderr
    for step in ("bench_open", "bench_eggroll", "bench_inner", "plan_open_breakout"):
        assert step in out.stderr
    assert out.stdout == ""
