"""Optimal gridworld returns: a closed form on a tiny level, and the env itself run with the optimal policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.envs import make_env
from metalearn.envs.gridworld import Level, named_level
from metalearn.envs.value_iteration import optimal_return, solve


def _two_cells(p_end: float, p_respawn: float, reward: float = 1.0, max_steps: int = 10) -> Level:
    """A 1 x 2 grid: the agent starts left, one object right."""
    return Level(
        height=jnp.asarray(1, jnp.int32),
        width=jnp.asarray(2, jnp.int32),
        walls=jnp.zeros((1, 2), bool),
        start_mask=jnp.asarray([[True, False]]),
        obj_pos=jnp.asarray([[0, 1]], jnp.int32),
        obj_reward=jnp.asarray([reward], jnp.float32),
        obj_p_end=jnp.asarray([p_end], jnp.float32),
        obj_p_respawn=jnp.asarray([p_respawn], jnp.float32),
        obj_active=jnp.asarray([True]),
        random_respawn=jnp.asarray(False),
        max_steps=jnp.asarray(max_steps, jnp.int32),
        lifetime=jnp.asarray(1, jnp.int32),
    )


def test_closed_forms_on_two_cells():
    # Collected on step 1, absent on step 2 (it respawns at that step's end), so at best every other step:
    # steps 1, 3, 5, 7, 9 of 10.
    assert optimal_return(_two_cells(p_end=0.0, p_respawn=1.0)) == pytest.approx(5.0)
    # Each collection ends the episode with probability 1/2: 1 + 1/2 + 1/4 + 1/8 + 1/16.
    assert optimal_return(_two_cells(p_end=0.5, p_respawn=1.0)) == pytest.approx(1.9375)
    assert optimal_return(_two_cells(p_end=0.0, p_respawn=0.0)) == pytest.approx(1.0)  # once, never again
    # A harmful object is never worth collecting: stay left.
    assert optimal_return(_two_cells(p_end=0.0, p_respawn=1.0, reward=-1.0)) == pytest.approx(0.0)
    # Respawn with probability 1/2 per step, no end: the object is back after 1 + Geometric(1/2) steps.
    v = optimal_return(_two_cells(p_end=0.0, p_respawn=0.5, max_steps=3))
    assert v == pytest.approx(1.0 + 0.5)  # step 1; step 3 only if it respawned on step 2


@pytest.mark.parametrize("name", ["dense", "long_dense"])
def test_the_env_run_with_the_optimal_policy_earns_the_optimal_return(name):
    """Independent of the solver's model of the dynamics: GridWorld.step itself, greedy in the solver's Q."""
    level = named_level(name)
    solution = solve(level)
    env = make_env("GridWorld", level=name)
    policy = jnp.asarray(solution.policy)
    w, k = level.walls.shape[1], level.obj_pos.shape[0]
    horizon = int(level.max_steps)

    def episode(key):
        k_reset, k_steps = jax.random.split(key)
        _, state = env.reset(k_reset, level)

        def step(carry, key):
            state, total, over = carry
            present = jnp.sum(state.obj_present.astype(jnp.int32) << jnp.arange(k))
            action = policy[state.time, state.pos[0] * w + state.pos[1], present]
            _, state, reward, terminated, truncated, _ = env.step(key, state, action, level)
            total = total + jnp.where(over, 0.0, reward)
            return (state, total, over | terminated | truncated), None

        (_, total, _), _ = jax.lax.scan(step, (state, 0.0, False), jax.random.split(k_steps, horizon))
        return total

    returns = np.asarray(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), 256)))
    se = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - solution.optimal_return) < 4 * se + 1e-3, (returns.mean(), solution.optimal_return)
    assert solution.optimal_return > 10  # both levels pay for collecting good objects again and again


def test_random_respawn_levels_are_refused():
    with pytest.raises(ValueError, match="random_respawn=True is invalid here"):
        optimal_return("rand_dense")
