"""Guard against the jax 0.10 CPU hang (idle CPU, stuck in block_until_ready).

jax 0.10.0 and 0.10.2 hung intermittently on these machines on long vmapped
scans (4 seeds x 976 PPO updates on CartPole, 8 seeds of MinAtar PPO). We pin
jax 0.9.2; this test runs both reported shapes of workload in a subprocess
with a timeout -- the CartPole preset on 4 vmapped seeds (976 updates) and
8 seeds x 1000 small updates -- so an upgrade that brings the hang back fails
here instead of freezing a meta-training run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from metalearn.inner import TrainConfig, get_preset, make_train
    small = TrainConfig(total_timesteps=1000 * 4 * 8, num_envs=4, num_steps=8, update_epochs=1,
                        num_minibatches=1, eval_envs=0)
    for config, seeds in ((get_preset("cartpole").config, 4), (small, 8)):
        train = jax.jit(jax.vmap(make_train("CartPole-v1", config), in_axes=(None, 0)))
        result = train(None, jax.random.split(jax.random.PRNGKey(0), seeds))
        jax.block_until_ready(result)
        assert result.curve.shape == (seeds, config.num_updates) and config.num_updates >= 976
        assert np.isfinite(np.asarray(result.curve)).all()
    print("ok")
    """
)

# Both finish in about 30 s on 2 cores; a hang idles forever.
TIMEOUT_S = 240


def test_long_vmapped_run_finishes_in_a_subprocess():
    try:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(
            f"long vmapped PPO runs did not finish in {TIMEOUT_S}s: the CPU hang seen with "
            f"jax 0.10.x may be back (check the pinned jax/jaxlib versions)"
        ) from err
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")
