"""The LPG / GROOVE gridworld: dynamics against an independent value iteration, levels, registry."""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalearn.envs import list_envs, make_env, wrap_for_training
from metalearn.envs.gridworld import (
    LEVEL_DISTRIBUTIONS,
    GridWorld,
    Level,
    LevelDistribution,
    list_levels,
    named_level,
    named_level_info,
    pad_level,
    random_level,
)

UP, DOWN, LEFT, RIGHT, STAY = range(5)


def make_level(layout, objects, max_steps, max_objects=None, random_respawn=False) -> Level:
    """A level from an ASCII map (``#`` wall, ``S`` start, letters = objects in ``objects`` order)."""
    h, w = len(layout), len(layout[0])
    k = max_objects or len(objects)
    walls = np.array([[ch == "#" for ch in row] for row in layout])
    start = np.array([[ch == "S" for ch in row] for row in layout])
    pos = np.zeros((k, 2), np.int32)
    props = np.zeros((k, 3), np.float32)
    for i, (letter, p) in enumerate(objects.items()):
        r = next(r for r, row in enumerate(layout) if letter in row)
        pos[i] = (r, layout[r].index(letter))
        props[i] = p
    return Level(
        height=jnp.int32(h),
        width=jnp.int32(w),
        walls=jnp.asarray(walls),
        start_mask=jnp.asarray(start),
        obj_pos=jnp.asarray(pos),
        obj_reward=jnp.asarray(props[:, 0]),
        obj_p_end=jnp.asarray(props[:, 1]),
        obj_p_respawn=jnp.asarray(props[:, 2]),
        obj_active=jnp.arange(k) < len(objects),
        random_respawn=jnp.asarray(random_respawn),
        max_steps=jnp.int32(max_steps),
        lifetime=jnp.int32(100),
    )


# A deterministic level: a respawning +1 next to the start, a +3 that ends the
# episode behind a wall, a -1 in the corridor that does not come back.
VI_LAYOUT = (
    "S.a.",
    ".##.",
    "..cb",
)
VI_OBJECTS = {"a": (1.0, 0.0, 1.0), "b": (3.0, 1.0, 0.0), "c": (-1.0, 0.0, 0.0)}
VI_STEPS = 14
GAMMA = 0.9


def value_iteration(layout, objects, horizon, gamma):
    """Finite-horizon optimal Q over (time, cell, present-set), written from the documented rules."""
    h, w = len(layout), len(layout[0])
    letters = list(objects)
    props = [objects[c] for c in letters]
    obj_cell = [next((r, row.index(c)) for r, row in enumerate(layout) if c in row) for c in letters]
    cells = [(r, c) for r in range(h) for c in range(w) if layout[r][c] != "#"]
    sets = list(itertools.product([False, True], repeat=len(letters)))
    moves = [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)]

    def transition(cell, present, a):
        r, c = cell[0] + moves[a][0], cell[1] + moves[a][1]
        if not (0 <= r < h and 0 <= c < w) or layout[r][c] == "#":
            r, c = cell
        got = [present[i] and obj_cell[i] == (r, c) for i in range(len(letters))]
        reward = sum(props[i][0] for i in range(len(letters)) if got[i])
        end = any(got[i] and props[i][1] >= 1.0 for i in range(len(letters)))
        nxt = tuple((present[i] and not got[i]) or (not present[i] and props[i][2] >= 1.0) for i in range(len(letters)))
        return (r, c), nxt, reward, end

    v_next = {(cell, s): 0.0 for cell in cells for s in sets}
    q_tables = []
    for _ in range(horizon):
        q = {}
        for cell in cells:
            for s in sets:
                vals = []
                for a in range(5):
                    (nc, ns, rew, end) = transition(cell, s, a)
                    vals.append(rew + (0.0 if end else gamma * v_next[(nc, ns)]))
                q[(cell, s)] = vals
        q_tables.append(q)
        v_next = {key: max(vals) for key, vals in q.items()}
    q_tables.reverse()  # q_tables[t] is Q at time t
    start = next((r, row.index("S")) for r, row in enumerate(layout) if "S" in row)
    s0 = (start, (True,) * len(letters))
    # Greedy action sequence from s0 (deterministic model), padded with STAY after the end.
    actions, state, done = [], s0, False
    for t in range(horizon):
        a = int(np.argmax(q_tables[t][state])) if not done else STAY
        actions.append(a)
        if not done:
            cell, nxt, _, end = transition(state[0], state[1], a)
            state, done = (cell, nxt), end
    return max(q_tables[0][s0]), actions


def discounted_return(env, level, actions, gamma):
    """Runs ``actions`` (..., T) in ``env``; discounted return of the first episode."""

    def run(acts):
        _, state = env.reset(jax.random.PRNGKey(0), level)

        def body(carry, a_t):
            state, ret, disc, alive, key = carry
            key, k = jax.random.split(key)
            _, state, r, term, trunc, _ = env.step(k, state, a_t, level)
            ret = ret + alive * disc * r
            return (state, ret, disc * gamma, alive * (1.0 - (term | trunc)), key), (term, trunc)

        init = (state, 0.0, 1.0, 1.0, jax.random.PRNGKey(1))
        (_, ret, _, _, _), flags = jax.lax.scan(body, init, acts)
        return ret, flags

    return jax.jit(jax.vmap(run) if actions.ndim == 2 else run)(jnp.asarray(actions, jnp.int32))


def test_env_matches_independent_value_iteration():
    level = make_level(VI_LAYOUT, VI_OBJECTS, VI_STEPS)
    env = GridWorld(3, 4, 3, default_level=level)
    v0, actions = value_iteration(VI_LAYOUT, VI_OBJECTS, VI_STEPS, GAMMA)
    ret, (term, _trunc) = discounted_return(env, level, np.array(actions), GAMMA)
    assert v0 > 3.0 * GAMMA**5  # collecting the +1 on the way beats walking straight to the +3
    np.testing.assert_allclose(float(ret), v0, rtol=1e-5)
    assert bool(term.any())  # the optimal plan ends on the +3
    # No other action sequence does better (random ones, and the plan with one action changed).
    rng = np.random.default_rng(0)
    others = rng.integers(0, 5, (256, VI_STEPS))
    variants = np.repeat(np.array(actions)[None], 5 * VI_STEPS, axis=0)
    variants[np.arange(5 * VI_STEPS), np.repeat(np.arange(VI_STEPS), 5)] = np.tile(np.arange(5), VI_STEPS)
    rets, _ = discounted_return(env, level, np.concatenate([others, variants]), GAMMA)
    assert float(rets.max()) <= v0 + 1e-5


@pytest.fixture(scope="module")
def tiny():
    """A 2x3 level: +1 to the right that ends the episode; max 5 steps."""
    level = make_level(("Sa.", "..."), {"a": (1.0, 1.0, 0.0)}, max_steps=5)
    env = GridWorld(2, 3, 1, default_level=level)
    return env, level, jax.jit(env.reset), jax.jit(env.step)


def test_spec_shapes_and_observations(tiny):
    env, level, reset, _step = tiny
    assert env.spec.discrete and env.spec.action_dim == 5
    assert env.spec.obs_dim == 2 * 3 * 2**1 + 1 and env.spec.max_episode_steps == 5
    obs, _state = reset(jax.random.PRNGKey(0), level)
    assert obs.shape == (env.spec.obs_dim,) and obs.dtype == jnp.float32
    # tabular: one-hot at (cell 0, object present = set 1) plus elapsed fraction 0
    assert obs[:-1].sum() == 1 and obs[0 + 6 * 1] == 1 and obs[-1] == 0
    grid = GridWorld(2, 3, 1, observation="grid", default_level=level)
    gobs, _ = grid.reset(jax.random.PRNGKey(0), level)
    assert grid.spec.obs_dim == 2 * 3 * 2 + 1 == gobs.shape[0]
    np.testing.assert_array_equal(gobs[:-1], [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="padded size"):
        env.reset(jax.random.PRNGKey(0), pad_level(level, 3, 3, 1))


def test_walls_bounds_termination_and_auto_reset(tiny):
    _env, level, reset, step = tiny
    obs0, s = reset(jax.random.PRNGKey(0), level)
    k = jax.random.PRNGKey(1)
    _, s1, r, term, trunc, _ = step(k, s, UP, level)  # off the grid: stays
    assert s1.pos.tolist() == [0, 0] and float(r) == 0 and not term and not trunc
    _, s1, r, term, trunc, _ = step(k, s, LEFT, level)
    assert s1.pos.tolist() == [0, 0]
    obs, s2, r, term, trunc, _ = step(k, s, RIGHT, level)  # onto the +1 that ends the episode
    assert float(r) == 1.0 and bool(term) and not bool(trunc)
    assert s2.pos.tolist() == [0, 0] and int(s2.time) == 0 and bool(s2.obj_present[0])  # auto-reset
    np.testing.assert_array_equal(obs, obs0)
    walled = make_level(("S#",), {}, max_steps=3, max_objects=1)
    wenv = GridWorld(1, 2, 1, default_level=walled)
    _, ws, *_ = jax.jit(lambda k: wenv.step(k, wenv.reset(k, walled)[1], RIGHT, walled))(k)
    assert ws.pos.tolist() == [0, 0]


def test_truncation_at_max_steps(tiny):
    _env, level, reset, step = tiny
    _, s = reset(jax.random.PRNGKey(0), level)
    flags = []
    for t in range(5):
        obs, s, _r, term, trunc, _ = step(jax.random.PRNGKey(t), s, DOWN if t == 0 else STAY, level)
        flags.append((bool(term), bool(trunc)))
        if t < 4:
            assert int(s.time) == t + 1 and float(obs[-1]) == pytest.approx((t + 1) / 5)
    assert flags == [(False, False)] * 4 + [(False, True)]
    assert int(s.time) == 0 and s.pos.tolist() == [0, 0]


def test_respawn_at_rate_one_brings_the_object_back():
    level = make_level(("Sa",), {"a": (1.0, 0.0, 1.0)}, max_steps=50)
    env = GridWorld(1, 2, 1, default_level=level)
    _, s = env.reset(jax.random.PRNGKey(0), level)
    rewards = []
    for t, a in enumerate([RIGHT, STAY, STAY, STAY, LEFT, RIGHT]):
        _, s, r, *_ = env.step(jax.random.PRNGKey(t), s, a, level)
        rewards.append(float(r))
    # collected, respawns during the next step, collected again on the step after, ...
    assert rewards == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]


def _reachable(walls, h, w, start):
    seen, queue = {start}, deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (r + dr, c + dc)
            if 0 <= n[0] < h and 0 <= n[1] < w and not walls[n] and n not in seen:
                seen.add(n)
                queue.append(n)
    return seen


def test_random_levels_vmap_over_keys_and_are_valid():
    dist = LEVEL_DISTRIBUTIONS["small"]
    levels = jax.jit(jax.vmap(lambda k: random_level(k, "small")))(jax.random.split(jax.random.PRNGKey(0), 64))
    assert levels.walls.shape == (64, 6, 6) and levels.obj_pos.shape == (64, 3, 2)
    assert levels.lifetime.shape == (64,)
    lv = jax.tree.map(np.asarray, levels)
    for i in range(64):
        h, w = int(lv.height[i]), int(lv.width[i])
        assert dist.min_size <= h <= dist.max_size and h == w
        assert not lv.walls[i, h:].any() and not lv.walls[i, :, w:].any()
        (start,) = [tuple(map(int, x)) for x in np.argwhere(lv.start_mask[i])]
        reach = _reachable(lv.walls[i], h, w, start)
        objs = [tuple(p) for p in lv.obj_pos[i][lv.obj_active[i]]]
        assert 1 <= len(objs) and len(set(objs)) == len(objs) and start not in objs
        assert all(o in reach for o in objs)
        assert dist.max_steps_range[0] <= lv.max_steps[i] <= dist.max_steps_range[1]
        assert lv.obj_reward[i, 0] >= 0 and (np.abs(lv.obj_reward[i]) <= 1).all()
        assert ((lv.obj_p_end[i] > 0) == lv.obj_active[i]).all() and (lv.obj_p_respawn[i] <= 0.1).all()
    assert len({int(x) for x in lv.height}) > 1 and len({int(x) for x in lv.max_steps}) > 10
    # A batch of levels runs through one env under vmap.
    env = GridWorld(6, 6, 3, default_level=jax.tree.map(lambda x: x[0], levels))

    @jax.jit
    def reset_and_step(keys, levels):
        _, states = jax.vmap(env.reset)(keys, levels)
        return jax.vmap(env.step)(keys, states, jnp.full((64,), RIGHT), levels)

    obs, _states, r, *_ = reset_and_step(jax.random.split(jax.random.PRNGKey(1), 64), levels)
    assert obs.shape == (64, env.spec.obs_dim) and r.shape == (64,)
    with pytest.raises(ValueError, match=r"unknown level distribution 'tiny'.*small"):
        random_level(jax.random.PRNGKey(0), "tiny")
    with pytest.raises(ValueError, match=r"LevelDistribution.max_size=12 is invalid"):
        LevelDistribution(max_size=12)


def test_every_named_level_resets_and_steps():
    names = list_levels()
    assert {"dense", "sparse", "long", "longer", "long_dense"} <= set(names) and len(names) >= 4
    for n in names:
        info = named_level_info(n)
        env = make_env("GridWorld", level=n)
        assert env.default_params.dims == (info["height"], info["width"], info["num_objects"])
        assert env.spec.obs_dim == (
            info["height"]
            * info["width"]
            * (2 ** info["num_objects"] if not info["random_respawn"] else 1 + info["num_objects"])
            + 1
        )
    # All of them padded to one shape: one compiled rollout, vmapped over levels.
    levels = [named_level(n, 13, 13, 5) for n in names]
    batch = jax.tree.map(lambda *x: jnp.stack(x), *levels)
    env = GridWorld(13, 13, 5, observation="grid", default_level=levels[0])

    def rollout(key, level):
        obs, state = env.reset(key, level)

        def body(carry, k):
            state, ret = carry
            k_a, k_s = jax.random.split(k)
            obs, state, r, term, trunc, _ = env.step(k_s, state, jax.random.randint(k_a, (), 0, 5), level)
            return (state, ret + r), (obs, term | trunc)

        (_, ret), (obs_seq, done) = jax.lax.scan(body, (state, 0.0), jax.random.split(key, 60))
        return obs, ret, obs_seq, done

    obs, ret, obs_seq, done = jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.PRNGKey(0), len(names)), batch)
    assert obs.shape == (len(names), env.spec.obs_dim) and bool(jnp.isfinite(ret).all())
    assert bool(jnp.all(obs_seq[..., : 13 * 13].sum(-1) == 1))  # the agent is always somewhere
    assert bool(done[names.index("sparse")].any())  # 50-step episodes end within 60 steps


def test_unknown_level_and_registry():
    with pytest.raises(ValueError, match=r"unknown gridworld level 'dence'; known: dense, sparse"):
        named_level("dence")
    with pytest.raises(ValueError, match="unknown gridworld level"):
        make_env("GridWorld", level="nope")
    assert "GridWorld" in list_envs()
    env = make_env("gridworld", level="sparse")
    assert int(env.default_params.max_steps) == 50 and env.spec.name == "GridWorld"
    assert make_env("GridWorld").default_params.dims == (11, 11, 4)  # "dense" by default
    padded = make_env("GridWorld", level="sparse", max_objects=4, observation="grid")
    assert padded.default_params.dims == (13, 13, 4) and padded.spec.obs_dim == 13 * 13 * 5 + 1
    vec = wrap_for_training(env)

    @jax.jit
    def reset_and_step(key, level):
        _, state = vec.reset(jax.random.split(key, 3), level)
        return vec.step(jax.random.split(key, 3), state, jnp.array([0, 1, 4]), level)

    obs, _state, _r, _term, _trunc, info = reset_and_step(jax.random.PRNGKey(0), env.default_params)
    assert obs.shape == (3, env.spec.obs_dim) and "returned_episode_returns" in info


def test_short_ppo_run_on_a_batch_of_levels():
    from metalearn.inner import TrainConfig, make_train

    config = TrainConfig(
        total_timesteps=2048,
        num_envs=4,
        num_steps=64,
        update_epochs=1,
        num_minibatches=1,
        hidden_size=16,
        num_hidden_layers=1,
        eval_envs=0,
        final_window=2,
    )
    env = make_env("GridWorld", level="rand_sparse")  # 7x7, 3 objects, grid observation
    # The named level and a random "small" (6x6) level padded to 7x7: one batch of env params.
    small = pad_level(random_level(jax.random.PRNGKey(0), "small"), 7, 7, 3)
    levels = jax.tree.map(lambda a, b: jnp.stack([a, b]), env.default_params, small)
    train = jax.jit(jax.vmap(make_train(env, config), in_axes=(None, None, 0)))
    result = train(None, jax.random.PRNGKey(0), levels)
    assert result.curve.shape == (2, config.num_updates)
    assert bool(jnp.isfinite(result.curve).all()) and not bool(result.diverged.any())
    assert bool(jnp.isfinite(result.metrics.value_loss).all())


def test_rand_all_is_all_with_random_respawn_and_the_reference_observation_size():
    """OPEN's training family (groove's rand_all): the `all` levels, objects respawning at random free cells;
    its grid observation has the reference's 601 entries (agent and 5 object maps over 10x10, and time)."""
    a, b = LEVEL_DISTRIBUTIONS["all"], LEVEL_DISTRIBUTIONS["rand_all"]
    assert b.random_respawn and not a.random_respawn
    assert dataclasses.replace(b, random_respawn=False, lifetime_range=a.lifetime_range) == a
    key = jax.random.PRNGKey(3)
    level, same = random_level(key, "rand_all"), random_level(key, "all")
    assert bool(level.random_respawn) and np.array_equal(level.walls, same.walls)
    env = GridWorld(10, 10, 5, observation="grid", default_level=level)
    assert env.spec.obs_dim == 601


def test_a_level_of_a_family_is_a_fixed_task():
    """``FAMILY@SEED`` names one random level (its seed fixed), so a comparison spec can list levels of a family
    as tasks: the same name builds the same level, another seed another level; bad names say what is allowed."""
    a, b, c = (make_env("GridWorld", level=n) for n in ("rand_all@3", "rand_all@3", "rand_all@4"))
    assert jax.tree.all(jax.tree.map(np.array_equal, a.default_params, b.default_params))
    assert not np.array_equal(a.default_params.walls, c.default_params.walls)
    assert a.spec.obs_dim == 601 and bool(a.default_params.random_respawn)  # grid observations, as rand_all's
    same = random_level(jax.random.PRNGKey(3), "rand_all")
    assert np.array_equal(a.default_params.obj_reward, same.obj_reward)
    assert make_env("GridWorld", level="small@0").spec.obs_dim == 36 * 2**3 + 1  # tabular without respawn moves
    with pytest.raises(ValueError, match=r"unknown level family 'rand'; allowed: FAMILY@SEED with FAMILY one of"):
        make_env("GridWorld", level="rand@1")
    with pytest.raises(ValueError, match=r"seed '-1' is invalid; allowed: FAMILY@SEED, SEED an integer >= 0"):
        make_env("GridWorld", level="rand_all@-1")
