"""Exact optimal return of a gridworld level, by finite-horizon value iteration (numpy, on the host).

Held-out gridworld results are averaged across levels in the LPG and GROOVE papers after dividing
each level's return by the best return possible there. A level without random respawn is a finite
MDP over (agent cell, set of present objects) with a step limit, so that best return is computed
exactly: V_T = 0 and, for t = T-1 .. 0,

    Q_t(c, P, a) = r(P, c') + p_continue(P, c') · E_R[ V_{t+1}(c', (P \\ C) ∪ R) ],   c' = move(c, a),

with C the present objects at c' (collected: reward paid, each ends the episode with its p_end)
and R the objects absent before the step that respawn (each with its p_respawn), exactly as
:meth:`GridWorld.step` does. The optimal return is V_0 at the start cell(s) with every active
object present, averaged over start cells (the env draws its start uniformly among them).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metalearn.envs.gridworld import _MOVES, Level, named_level


class Solution(NamedTuple):
    """optimal_return: the expected episodic return of an optimal policy from the level's start.
    policy: (T, H * W, 2**K) int8 optimal action at step t, agent cell and set of present objects
    (bit k = object k present); cells of the padded grid, row-major."""

    optimal_return: float
    policy: np.ndarray


def solve(level: Level | str) -> Solution:
    """Value iteration on ``level`` (a :class:`Level` or a named level); see the module docstring."""
    if isinstance(level, str):
        level = named_level(level)
    lv = {f: np.asarray(getattr(level, f)) for f in level.__dataclass_fields__}
    if bool(lv["random_respawn"]):
        raise ValueError(
            "level random_respawn=True is invalid here: objects reappear at random cells the tabular state "
            "cannot see; allowed: levels with fixed object cells (dense, sparse, long, longer, long_dense, ...)"
        )
    (hmax, wmax), k = lv["walls"].shape, lv["obj_pos"].shape[0]
    h, w, horizon = int(lv["height"]), int(lv["width"]), int(lv["max_steps"])
    cells, masks = hmax * wmax, 2**k
    bits = (np.arange(masks)[:, None] >> np.arange(k)[None, :]) & 1  # (masks, K)

    # Deterministic moves; off the grid or into a wall stays in place.
    rows, cols = np.divmod(np.arange(cells), wmax)
    target = np.stack([rows, cols], -1)[:, None, :] + _MOVES[None]  # (cells, A, 2)
    tr, tc = target[..., 0], target[..., 1]
    inside = (tr >= 0) & (tr < h) & (tc >= 0) & (tc < w)
    open_cell = inside & ~lv["walls"][np.clip(tr, 0, hmax - 1), np.clip(tc, 0, wmax - 1)]
    next_cell = np.where(open_cell, tr * wmax + tc, np.arange(cells)[:, None])  # (cells, A)

    active = lv["obj_active"].astype(bool)
    obj_cell = lv["obj_pos"][:, 0] * wmax + lv["obj_pos"][:, 1]
    at_cell = np.zeros(cells, np.int64)  # mask of the active objects at each cell
    for j in np.flatnonzero(active):
        at_cell[obj_cell[j]] |= 1 << j
    collected = np.arange(masks)[:, None] & at_cell[None, :]  # (masks, cells)
    cbits = (collected[..., None] >> np.arange(k)) & 1  # (masks, cells, K)
    reward = (cbits * lv["obj_reward"]).sum(-1)
    p_continue = np.prod(np.where(cbits == 1, 1.0 - lv["obj_p_end"], 1.0), axis=-1)
    base = np.arange(masks)[:, None] & ~at_cell[None, :]  # present after collection, before respawn

    # prob[P, R]: the objects absent (and active) before the step that respawn are exactly R.
    active_mask = int(np.sum(active * (1 << np.arange(k))))
    absent = ~np.arange(masks) & active_mask  # (masks,)
    in_r = bits[None, :, :] == 1  # (1, R, K)
    can = ((absent[:, None] >> np.arange(k)) & 1).astype(bool)[:, None, :]  # (P, 1, K)
    p = lv["obj_p_respawn"]
    factors = np.where(can, np.where(in_r, p, 1.0 - p), np.where(in_r, 0.0, 1.0))
    prob = factors.prod(-1)  # (P, R)
    after = base[:, :, None] | np.arange(masks)[None, None, :]  # (P, cells', R) present after respawn

    value = np.zeros((cells, masks))
    policy = np.zeros((horizon, cells, masks), np.int8)
    cell_index = np.arange(cells)[None, :, None]
    for t in range(horizon - 1, -1, -1):
        expected = np.einsum("pr,pcr->pc", prob, value[cell_index, after])  # (P, cells')
        gain = reward + p_continue * expected  # (P, cells')
        q = gain[:, next_cell]  # (P, cells, A)
        policy[t] = np.argmax(q, axis=-1).T
        value = q.max(-1).T  # (cells, P)
    start = lv["start_mask"].reshape(-1)
    return Solution(float(value[start, active_mask].mean()), policy)


def optimal_return(level: Level | str) -> float:
    """The expected episodic return of an optimal policy on ``level`` (see :func:`solve`)."""
    return solve(level).optimal_return
