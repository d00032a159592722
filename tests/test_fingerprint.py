"""Same seed, same bits on every machine: a tiny training's fingerprint, and the XLA CPU ISA pin behind it.

The fingerprint is a small PPO run on CartPole whose per-seed final returns (and a hash of the final
parameters) must equal tests/fixtures/fingerprint.json bit for bit. It runs in a fresh process with
the persistent compilation cache off, so this machine's XLA compiles it (a cached executable from
another machine would hide a difference).

The fixture holds one fingerprint per CPU kind (the start of /proc/cpuinfo's model name): under the same
AVX2 pin an AMD EPYC (AVX-512) and an Intel Xeon (AVX-512, AMX) train different agents from one seed
(bench/results/determinism.md), so bits are promised within a kind, not across kinds. A machine of a
recorded kind must match its fingerprint; one of an unrecorded kind is skipped, naming its kind. Add a kind,
or re-record after a deliberate change to the numbers (a jax upgrade, a change to the trainer), with
``python tests/test_fingerprint.py --record`` on a machine of that kind.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from metalearn import xla_cpu

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "fingerprint.json"
X86 = platform.machine().lower() in ("x86_64", "amd64")

# 96 PPO updates of the cartpole preset on 4 seeds: returns part between any two ISA levels, and it
# compiles and runs in about 10 s. The child imports jax before metalearn, as user scripts may.
CHILD = """
import hashlib, json, os, platform
import jax
import numpy as np
import metalearn
from metalearn.envs import make_env
from metalearn.inner import get_preset, make_train

preset = get_preset("cartpole")
config = preset.config.replace(total_timesteps=4 * 128 * 96, return_params=True)
train = jax.jit(jax.vmap(make_train(make_env(preset.env), config), in_axes=(None, 0)))
result = train(None, jax.random.split(jax.random.PRNGKey(0), 4))
params = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(result.params)])
print(json.dumps({
    "final_return": [float(x).hex() for x in np.asarray(result.final_return)],
    "params_sha256": hashlib.sha256(params.tobytes()).hexdigest(),
    "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
    "jax": jax.__version__,
    "jaxlib": __import__("jaxlib").__version__,
    "machine": platform.machine(),
}))
"""


def run_python(code: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without XLA_FLAGS and the opt-out, with ``extra`` set; the compile cache off."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_cpu.ENV_VAR)}
    return {**env, "JAX_ENABLE_COMPILATION_CACHE": "false", "JAX_PLATFORMS": "cpu", **extra}


def fingerprint(env: dict[str, str]) -> dict[str, Any]:
    out = run_python(CHILD, env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_flags() -> str:
    """The SIMD flags of this CPU (Linux), for the failure message."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                keep = ("sse4_2", "avx", "fma")
                return " ".join(f for f in line.split()[2:] if f.startswith(keep))
    except OSError:
        pass
    return "unknown"


def recorded_for(model: str, fingerprints: list[dict]) -> dict | None:
    """The fingerprint recorded for this CPU kind: the entry whose ``cpu_kind`` starts ``model``."""
    return next((f for f in fingerprints if model.startswith(f["cpu_kind"])), None)


def test_fingerprint_matches_committed_bits():
    """The tiny training's bits equal the ones committed for this CPU kind (the user's XLA_FLAGS and opt-out, if
    any, apply)."""
    fingerprints = json.loads(FIXTURE.read_text())["fingerprints"]
    expected = recorded_for(xla_cpu.cpu_model(), fingerprints)
    if expected is None:
        kinds = [f["cpu_kind"] for f in fingerprints]
        pytest.skip(
            f"no fingerprint recorded for this CPU kind ({xla_cpu.cpu_model()!r}; recorded: {kinds}); add one with "
            "`python tests/test_fingerprint.py --record`"
        )
    env = {**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false", "JAX_PLATFORMS": "cpu"}
    got = fingerprint(env)
    if (got["jax"], got["jaxlib"]) != (expected["jax"], expected["jaxlib"]):
        pytest.fail(
            f"the fingerprint was recorded with jax {expected['jax']} / jaxlib {expected['jaxlib']}, this is "
            f"{got['jax']} / {got['jaxlib']}: other XLA versions compile differently; install constraints.txt's "
            "versions, or after a deliberate upgrade re-record with `python tests/test_fingerprint.py --record`"
        )
    same = got["final_return"] == expected["final_return"] and got["params_sha256"] == expected["params_sha256"]
    assert same, (
        "this machine computes a different tiny training than the committed fingerprint, so the same seed will "
        f"not give the same numbers here as on the {expected['cpu_kind']} machines that recorded results.\n"
        f"  final returns here:     {[float.fromhex(x) for x in got['final_return']]}\n"
        f"  final returns expected: {[float.fromhex(x) for x in expected['final_return']]}\n"
        f"  params sha256 here {got['params_sha256'][:16]}, expected {expected['params_sha256'][:16]}\n"
        f"  XLA_FLAGS in effect: {got['XLA_FLAGS']!r} (recorded under {expected['XLA_FLAGS']!r}); "
        f"{xla_cpu.ENV_VAR}={os.environ.get(xla_cpu.ENV_VAR)!r}\n"
        f"  CPU: {platform.machine()}, flags: {cpu_flags()} (recorded on {expected['cpu']})\n"
        "A different --xla_cpu_max_isa (a user-set one, or the opt-out) changes the bits; so would a CPU without "
        "the pinned ISA, a non-x86 CPU, or an XLA change. See metalearn/xla_cpu.py and bench/determinism.py."
    )


def test_a_machine_is_held_to_its_own_kinds_fingerprint():
    entries = [{"cpu_kind": "AMD EPYC"}, {"cpu_kind": "Intel(R) Xeon(R)"}]
    assert recorded_for("AMD EPYC 7B13 64-Core Processor", entries) is entries[0]
    assert recorded_for("Intel(R) Xeon(R) Processor", entries) is entries[1]
    assert recorded_for("Intel(R) Core(TM) i7-8700", entries) is None  # another kind: not held to these


def test_import_pins_isa_in_clean_env():
    """``import metalearn`` in a clean environment adds the pin to XLA_FLAGS (and keeps other flags)."""
    code = "import os, metalearn; print(os.environ.get('XLA_FLAGS'))"
    out = run_python(code, clean_env())
    assert out.returncode == 0, out.stderr
    expected = f"--xla_cpu_max_isa={xla_cpu.DEFAULT_ISA}" if X86 else "None"
    assert out.stdout.strip() == expected
    out = run_python(code, clean_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    pinned = f" --xla_cpu_max_isa={xla_cpu.DEFAULT_ISA}" if X86 else ""
    assert out.stdout.strip() == "--xla_force_host_platform_device_count=2" + pinned


@pytest.mark.parametrize("flags", ["--xla_cpu_max_isa=SSE4_2", "--xla_dump_to=/tmp/x -xla_cpu_max_isa=avx512"])
def test_user_isa_is_kept(flags: str):
    out = run_python("import os, metalearn; print(os.environ['XLA_FLAGS'])", clean_env(XLA_FLAGS=flags))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == flags


def test_opt_out_leaves_xla_flags_alone():
    code = "import os, metalearn; print(os.environ.get('XLA_FLAGS'))"
    out = run_python(code, clean_env(**{xla_cpu.ENV_VAR: "native"}))
    assert out.stdout.strip() == "None"


@pytest.mark.skipif(not X86, reason="the pin applies to x86-64 only")
def test_pin_changes_compiled_code_after_jax_import():
    """XLA reads XLA_FLAGS when jax starts its backend, so metalearn imported after jax (but before any
    computation) still pins; a sum over all elements shows it, whose lane count follows the ISA."""
    code = (
        "import jax, jax.numpy as jnp\n"
        "import metalearn\n"
        "x = jax.random.normal(jax.random.PRNGKey(0), (4096, 64))\n"
        "print(float(jax.jit(lambda x: (x * 2).sum())(x)).hex())"
    )
    pinned = run_python(code, clean_env())
    explicit = run_python(code, clean_env(XLA_FLAGS=f"--xla_cpu_max_isa={xla_cpu.DEFAULT_ISA}"))
    sse = run_python(code, clean_env(XLA_FLAGS="--xla_cpu_max_isa=SSE4_2"))
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout == explicit.stdout
    assert pinned.stdout != sse.stdout  # the probe can see an ISA change
    if "avx512f" in cpu_flags().split():  # here the machine's own ISA differs from the pin
        native = run_python(code, clean_env(**{xla_cpu.ENV_VAR: "native"}))
        assert pinned.stdout != native.stdout


def test_import_after_backend_warns_and_leaves_flags():
    """Once jax's backend exists XLA has read its flags: metalearn warns and does not touch XLA_FLAGS
    (which would only put a flag the code lacks into the compilation cache's keys)."""
    code = (
        "import os, warnings, jax.numpy as jnp\n"
        "jnp.ones(2).sum()\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    import metalearn\n"
        "print(os.environ.get('XLA_FLAGS'), any('imported after jax' in str(w.message) for w in caught))"
    )
    out = run_python(code, clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("None True" if X86 else "None False")


def test_isa_parsing_and_validation(monkeypatch):
    assert xla_cpu.isa_in_xla_flags("--xla_dump_to=x --xla_cpu_max_isa=AVX") == "AVX"
    assert xla_cpu.isa_in_xla_flags("--xla_cpu_max_isa_other=1") is None
    assert xla_cpu.isa_in_xla_flags("") is None
    monkeypatch.setenv(xla_cpu.ENV_VAR, "avx512")
    assert xla_cpu.requested_isa() == "AVX512"
    monkeypatch.setenv(xla_cpu.ENV_VAR, "Native")
    assert xla_cpu.requested_isa() == "native"
    monkeypatch.setenv(xla_cpu.ENV_VAR, "AVX3")
    with pytest.raises(ValueError, match="allowed: native"):
        xla_cpu.requested_isa()


def record() -> None:
    """Writes the fingerprint of this machine under the package's default pin to the fixture, as its CPU kind's
    (its model name without "Processor"), replacing an older one of that kind."""
    got = fingerprint(clean_env())
    model = xla_cpu.cpu_model()
    got["cpu_kind"] = model.replace("Processor", "").strip() or model
    got["cpu"] = f"{model} ({cpu_flags()})"
    got["final_return_repr"] = [repr(float.fromhex(x)) for x in got["final_return"]]
    fingerprints = json.loads(FIXTURE.read_text())["fingerprints"] if FIXTURE.exists() else []
    fingerprints = [f for f in fingerprints if f["cpu_kind"] != got["cpu_kind"]] + [got]
    FIXTURE.write_text(json.dumps({"fingerprints": fingerprints}, indent=2) + "\n")
    print(f"wrote {FIXTURE} ({got['cpu_kind']}): {got['final_return_repr']}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_fingerprint.py --record")
    record()
