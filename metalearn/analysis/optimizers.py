"""What a learned optimizer does: update maps, step size over training, learned noise, per-layer updates.

Every function takes an ``optax.GradientTransformation`` (a rule's
``rule.optimizer(meta_params)``, a published OPEN, or plain ``optax.adam``) and
probes it with :mod:`metalearn.analysis.probe`. Updates are in parameter units
(``p ← p + u``, so a descent step has the opposite sign of the gradient).

Synthetic gradients come from one tensor, :func:`gradient_grid` (±10⁻⁵ … ±10⁻¹,
log-spaced): OPEN normalises its inputs by their second moment *per tensor*,
so an element's update depends on the other gradients in its tensor, and using
the same tensor everywhere keeps the pictures comparable.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from metalearn.analysis.figures import new_figure, styled
from metalearn.analysis.probe import NETWORKS, as_extra_args, probe_fn

PROGRESSES = (0.0, 0.25, 0.5, 0.75, 1.0)


def gradient_grid(lo: float = 1e-5, hi: float = 1e-1, per_side: int = 33) -> np.ndarray:
    """(2·per_side,) sorted gradients ±logspace(lo, hi); the defaults hit every power of ten."""
    mags = np.logspace(np.log10(lo), np.log10(hi), per_side)
    return np.concatenate([-mags[::-1], mags]).astype(np.float32)


# ----------------------------------------------------------------- update maps
class UpdateMap(NamedTuple):
    """Update u against gradient g: ``updates[i, j]`` at ``progresses[i]``, ``gradients[j]``."""

    gradients: np.ndarray  # (N,)
    progresses: np.ndarray  # (P,)
    updates: np.ndarray  # (P, N)
    steps: int  # the gradient was fed this many times (1: the first step from a fresh state)


def update_vs_gradient(
    tx: optax.GradientTransformation,
    gradients: np.ndarray | None = None,
    progresses: tuple[float, ...] = PROGRESSES,
    steps: int = 10,
    params: float = 0.0,
) -> UpdateMap:
    """The (noise-free, critic-leaf) update after ``steps`` steps of the same gradient, at several progresses."""
    g = gradient_grid() if gradients is None else np.asarray(gradients, np.float32)
    grads = jnp.broadcast_to(g, (steps, *g.shape))
    run = probe_fn(tx)
    key = jax.random.PRNGKey(0)
    out = jax.vmap(lambda p: run(params, grads, jnp.full(steps, p), key)["critic"])(jnp.asarray(progresses))
    return UpdateMap(g, np.asarray(progresses, np.float32), np.asarray(out), steps)


class MomentumMap(NamedTuple):
    """Update against the current gradient and the momentum before the step: ``updates[i, j]`` at
    ``momenta[i]``, ``gradients[j]``."""

    gradients: np.ndarray  # (N,)
    momenta: np.ndarray  # (M,) EMA of past gradients at decay ``beta`` before this step
    updates: np.ndarray  # (M, N)
    progress: float
    steps: int  # length of the synthetic history
    beta: float


def update_vs_momentum(
    tx: optax.GradientTransformation,
    gradients: np.ndarray | None = None,
    momenta: np.ndarray | None = None,
    progress: float = 0.5,
    steps: int = 20,
    beta: float = 0.9,
) -> MomentumMap:
    """Update after a history that sets the momentum, then one step with gradient g.

    The history is ``steps`` steps of a constant gradient h = m / (1 − βˢᵗᵉᵖˢ), so
    an EMA at decay β (Adam's first moment, OPEN's β = 0.9 momentum) starts the
    measured step at exactly m; faster momenta are then ≈ h, slower ones smaller.
    """
    g = gradient_grid(per_side=17) if gradients is None else np.asarray(gradients, np.float32)
    m = gradient_grid(per_side=17) if momenta is None else np.asarray(momenta, np.float32)
    h = m / (1.0 - beta**steps)
    history = np.broadcast_to(h[None, :, None], (steps, m.size, g.size))
    current = np.broadcast_to(g[None, None, :], (1, m.size, g.size))
    grads = jnp.asarray(np.concatenate([history, current]))
    out = probe_fn(tx)(0.0, grads, jnp.full(steps + 1, progress), jax.random.PRNGKey(0))["critic"]
    return MomentumMap(g, m, np.asarray(out), float(progress), steps, beta)


class StepSize(NamedTuple):
    """Step size |u| over training progress, for steady gradients of several magnitudes."""

    progresses: np.ndarray  # (P,)
    magnitudes: np.ndarray  # (K,) |g|
    step: np.ndarray  # (P, K) |u| averaged over g = ±magnitude
    steps: int


def step_size_over_training(
    tx: optax.GradientTransformation,
    magnitudes: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1),
    progresses: np.ndarray | None = None,
    steps: int = 10,
) -> StepSize:
    """|u| after ``steps`` steps of a steady gradient ±|g| (in the :func:`gradient_grid` tensor).

    For Adam this is the learning rate itself (m̂/√v̂ = ±1), so for ``lr_schedule``
    it traces the learned schedule; for OPEN it is its per-step magnitude.
    """
    p = np.linspace(0.0, 1.0, 21) if progresses is None else np.asarray(progresses, np.float32)
    g = gradient_grid()
    umap = update_vs_gradient(tx, g, tuple(p.tolist()), steps)
    cols = [np.flatnonzero(np.isclose(np.abs(g), mag, rtol=1e-3)) for mag in magnitudes]
    for mag, c in zip(magnitudes, cols, strict=True):
        if c.size == 0:
            raise ValueError(f"magnitude {mag:g} is not in the gradient grid (powers of ten from 1e-5 to 1e-1)")
    step = np.stack([np.abs(umap.updates[:, c]).mean(axis=1) for c in cols], axis=1)
    return StepSize(p.astype(np.float32), np.asarray(magnitudes, np.float32), step, steps)


# ------------------------------------------------------------------------ noise
class NoiseStats(NamedTuple):
    """Spread of updates across optimizer keys (the learned noise), actor vs critic, mask on vs off.

    Noise of an element = its update under one key minus its mean update over keys.
    """

    progresses: np.ndarray  # (P,)
    actor_std: np.ndarray  # (P,) actor leaf, actor_mask = 1 (as in training)
    critic_std: np.ndarray  # (P,) critic leaf (mask 0)
    actor_off_std: np.ndarray  # (P,) actor leaf with actor_mask = 0
    update_scale: np.ndarray  # (P,) mean |update over keys| on the actor leaf, for scale
    sample_progress: float
    samples: dict[str, np.ndarray]  # noise values (keys·N,) at sample_progress, same three keys as above


def learned_noise(
    tx: optax.GradientTransformation,
    progresses: np.ndarray | None = None,
    keys: int = 32,
    steps: int = 10,
    sample_progress: float = 0.0,
    seed: int = 0,
) -> NoiseStats:
    """Updates of the :func:`gradient_grid` tensor under ``keys`` optimizer keys, at each progress."""
    p = np.linspace(0.0, 1.0, 11) if progresses is None else np.asarray(progresses, np.float32)
    p = np.union1d(p, [sample_progress]).astype(np.float32)
    g = gradient_grid()
    grads = jnp.broadcast_to(g, (steps, g.size))
    ks = jax.random.split(jax.random.PRNGKey(seed), keys)
    run = probe_fn(tx)
    # (2 mask settings, P, keys, N) per leaf, in one compiled sweep
    per_key = lambda flag, prog: jax.vmap(lambda k: run(0.0, grads, jnp.full(steps, prog), k, flag))(ks)
    per_prog = lambda flag: jax.vmap(lambda prog: per_key(flag, prog))(jnp.asarray(p))
    both = jax.vmap(per_prog)(jnp.array([1.0, 0.0], jnp.float32))
    # float64, so that identical updates (no noise) give exactly zero, not float32 rounding of their mean
    both = jax.tree.map(lambda x: np.asarray(x, np.float64), both)
    u_on, u_off = jax.tree.map(lambda x: x[0], both), jax.tree.map(lambda x: x[1], both)
    noise = {
        "actor": u_on["actor"] - u_on["actor"].mean(1, keepdims=True),
        "critic": u_on["critic"] - u_on["critic"].mean(1, keepdims=True),
        "actor, mask off": u_off["actor"] - u_off["actor"].mean(1, keepdims=True),
    }
    std = {k: v.reshape(len(p), -1).std(axis=1) for k, v in noise.items()}
    i = int(np.flatnonzero(np.isclose(p, sample_progress))[0])
    return NoiseStats(
        progresses=p,
        actor_std=std["actor"],
        critic_std=std["critic"],
        actor_off_std=std["actor, mask off"],
        update_scale=np.abs(u_on["actor"].mean(1)).mean(axis=1),
        sample_progress=float(sample_progress),
        samples={k: v[i].reshape(-1) for k, v in noise.items()},
    )


# -------------------------------------------------------------- per-layer updates
class LayerUpdates(NamedTuple):
    """Mean |update| and |gradient| per parameter tensor of a small actor-critic, at several progresses."""

    names: list[str]  # (L,) e.g. "actor/Dense_0/kernel"
    progresses: np.ndarray  # (P,)
    update: np.ndarray  # (P, L) mean |u| per element, averaged over the steps
    gradient: np.ndarray  # (P, L) mean |g| per element (after clipping), averaged over the steps
    param: np.ndarray  # (L,) mean |p| per element at initialisation
    steps: int


def per_layer_updates(
    tx: optax.GradientTransformation,
    progresses: tuple[float, ...] = (0.0, 0.5, 1.0),
    steps: int = 10,
    obs_dim: int = 4,
    action_dim: int = 2,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    batch: int = 128,
    max_grad_norm: float = 0.5,
    seed: int = 0,
) -> LayerUpdates:
    """Trains the inner trainer's actor and critic (CartPole-sized by default) for ``steps`` steps.

    The networks, initialisation, gradient clipping (per network, by global
    norm) and extra arguments (layer proportions, real activations, actor mask,
    keys) are the trainer's; the data are synthetic: observations ~ N(0, 1),
    random actions with advantages ~ N(0, 1) (policy-gradient loss) and value
    targets ~ N(0, 1), fresh each step. Training progress is held at each
    value of ``progresses`` for the whole run.
    """
    from metalearn.inner.networks import Actor, Critic, layer_proportions
    from metalearn.pytree_io import flatten_with_names

    actor = Actor(action_dim, discrete=True, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers)
    critic = Critic(hidden_size, num_hidden_layers)
    k_a, k_c, k_run = jax.random.split(jax.random.PRNGKey(seed), 3)
    dummy = jnp.zeros((obs_dim,))
    params0 = {"actor": actor.init(k_a, dummy), "critic": critic.init(k_c, dummy)}
    layer_props = {k: layer_proportions(v) for k, v in params0.items()}
    actor_mask = {k: jax.tree.map(lambda _, m=float(k == "actor"): jnp.float32(m), v) for k, v in params0.items()}
    opt = as_extra_args(tx)

    def loss(params, obs, actions, adv, targets):
        dist, _, act_a = actor.apply(params["actor"], obs)
        value, act_c = critic.apply(params["critic"], obs)
        total = -jnp.mean(dist.log_prob(actions) * adv) + 0.5 * jnp.mean((value - targets) ** 2)
        return total, {"actor": act_a, "critic": act_c}

    def clip(g):
        norm = optax.tree.norm(g)
        return jax.tree.map(lambda x: x * jnp.minimum(1.0, max_grad_norm / (norm + 1e-12)), g)

    def run(progress):
        def step(carry, k):
            params, state = carry
            k_obs, k_act, k_adv, k_tgt, k_opt = jax.random.split(k, 5)
            obs = jax.random.normal(k_obs, (batch, obs_dim))
            actions = jax.random.randint(k_act, (batch,), 0, action_dim)
            adv, targets = jax.random.normal(k_adv, (batch,)), jax.random.normal(k_tgt, (batch,))
            grads, acts = jax.grad(loss, has_aux=True)(params, obs, actions, adv, targets)
            grads = {net: clip(grads[net]) for net in NETWORKS}
            updates, state = opt.update(
                grads,
                state,
                params,
                training_progress=progress,
                batch_progress=jnp.float32(0.0),
                layer_props=layer_props,
                activations=acts,
                actor_mask=actor_mask,
                key=k_opt,
            )
            mean_abs = lambda t: jax.tree.map(lambda x: jnp.mean(jnp.abs(x)), t)
            return (optax.apply_updates(params, updates), state), (mean_abs(updates), mean_abs(grads))

        _, (u, g) = jax.lax.scan(step, (params0, opt.init(params0)), jax.random.split(k_run, steps))
        return jax.tree.map(lambda x: x.mean(0), (u, g))

    u, g = jax.jit(jax.vmap(run))(jnp.asarray(progresses, jnp.float32))
    names, u_leaves, _ = flatten_with_names(u)
    _, g_leaves, _ = flatten_with_names(g)
    _, p_leaves, _ = flatten_with_names(params0)
    return LayerUpdates(
        names=[n.replace("params/", "") for n in names],
        progresses=np.asarray(progresses, np.float32),
        update=np.stack([np.asarray(x) for x in u_leaves], axis=1),
        gradient=np.stack([np.asarray(x) for x in g_leaves], axis=1),
        param=np.array([float(np.mean(np.abs(x))) for x in p_leaves]),
        steps=steps,
    )


# ----------------------------------------------------------------------- figures
def _progress_colors(n: int):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(0.9 * i / max(n - 1, 1)) for i in range(n)]


def _signed_log_axis(ax, values: np.ndarray, label: str, axis: str = "x") -> None:
    """A symlog axis for a ±log-spaced grid: linear only inside its smallest magnitude.

    Ticks every 2 decades down from the largest, none near 0 (where ±ticks would overlap).
    """
    from matplotlib.ticker import FixedLocator, NullLocator

    mags = np.abs(values[values != 0])
    lo, hi = (float(mags.min()), float(mags.max())) if mags.size else (1e-5, 1e-1)
    decades = np.arange(np.floor(np.log10(hi)), np.log10(lo) + 0.5, -2.0)
    decades = decades[decades > np.log10(lo) + 0.5] if decades.size > 1 else decades
    ticks = sorted([*(-(10.0**decades)), *(10.0**decades)])
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("symlog", linthresh=lo, linscale=0.3)
    target.set_major_locator(FixedLocator(ticks))
    target.set_minor_locator(NullLocator())
    (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)


def _magnitude_axis(ax, values: np.ndarray) -> None:
    """Log y when the values span over a decade (readable ticks otherwise: linear, scientific notation)."""
    v = np.asarray(values)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > 10:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))


@styled
def update_vs_gradient_figure(umap: UpdateMap, title: str = "") -> Figure:
    """Left: u against g (symlog x). Right: |u| against |g| (log–log), one line per training progress."""
    fig, axes = new_figure(1, 2, panel=(3.8, 3.1))
    left, right = axes[0]
    pos = umap.gradients > 0
    for prog, u, color in zip(umap.progresses, umap.updates, _progress_colors(len(umap.progresses)), strict=True):
        left.plot(umap.gradients, u, color=color, lw=1.5, label=f"progress {prog:.2f}")
        au = np.abs(u[pos])
        right.plot(umap.gradients[pos], np.where(au > 0, au, np.nan), color=color, lw=1.5)
    left.axhline(0, color="k", lw=0.5)
    _signed_log_axis(left, umap.gradients, "gradient g")
    left.set_ylabel("update u (parameter units)")
    left.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    left.legend(loc="best")
    right.set_xscale("log")
    _magnitude_axis(right, np.abs(umap.updates[:, pos]))
    right.set_xlabel("|g| (g > 0)")
    right.set_ylabel("|u|")
    steps = "first step from a fresh state" if umap.steps == 1 else f"after {umap.steps} steps of the same g"
    fig.suptitle(f"{title}: update vs gradient ({steps}, noise off)".lstrip(": "))
    return fig


@styled
def update_vs_momentum_figure(mmap: MomentumMap, title: str = "") -> Figure:
    """Heatmap of u over (g, m), and u against m at a few gradients."""
    from matplotlib.colors import SymLogNorm

    fig, axes = new_figure(1, 2, panel=(3.9, 3.2))
    heat, lines = axes[0]
    vmax = float(np.max(np.abs(mmap.updates))) or 1.0
    # A symmetric log colour scale, so both the large and the small updates show.
    norm = SymLogNorm(linthresh=max(vmax * 1e-3, 1e-12), vmin=-vmax, vmax=vmax)
    mesh = heat.pcolormesh(mmap.gradients, mmap.momenta, mmap.updates, cmap="RdBu_r", norm=norm, shading="nearest")
    _signed_log_axis(heat, mmap.gradients, "current gradient g")
    _signed_log_axis(heat, mmap.momenta, f"momentum m (β = {mmap.beta}) before the step", axis="y")
    heat.grid(False)
    top = np.floor(np.log10(vmax))
    fig.colorbar(
        mesh, ax=heat, label="u (red: p grows)", ticks=[-(10**top), -(10 ** (top - 2)), 0, 10 ** (top - 2), 10**top]
    )
    picks = [float(x) for x in (-1e-2, -1e-4, 1e-4, 1e-2) if np.any(np.isclose(mmap.gradients, x, rtol=1e-3))]
    for color, gval in zip(_progress_colors(len(picks)), picks, strict=True):
        j = int(np.argmin(np.abs(mmap.gradients - gval)))
        lines.plot(mmap.momenta, mmap.updates[:, j], color=color, lw=1.5, label=f"g = {gval:g}")
    lines.axhline(0, color="k", lw=0.5)
    _signed_log_axis(lines, mmap.momenta, f"momentum m (β = {mmap.beta}) before the step")
    lines.set_ylabel("update u (parameter units)")
    lines.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    lines.legend(loc="best")
    fig.suptitle(
        f"{title}: update vs gradient and momentum\n(progress {mmap.progress:.2f}, "
        f"after {mmap.steps} steps of a constant gradient)".lstrip(": ")
    )
    return fig


@styled
def step_size_figure(s: StepSize, title: str = "") -> Figure:
    """|u| over training progress, one line per gradient magnitude."""
    fig, axes = new_figure(1, 1, panel=(5.0, 3.3))
    ax = axes[0, 0]
    for color, mag, col in zip(_progress_colors(len(s.magnitudes)), s.magnitudes, s.step.T, strict=True):
        ax.plot(s.progresses, np.where(col > 0, col, np.nan), color=color, lw=1.5, marker=".", label=f"|g| = {mag:g}")
    _magnitude_axis(ax, s.step)
    ax.set_xlabel("training progress (update n / N)")
    ax.set_ylabel("step size |u| (parameter units)")
    ax.set_title(f"{title}: step size over training\n(|u| after {s.steps} steps of a steady gradient)".lstrip(": "))
    ax.legend(loc="best")
    return fig


@styled
def noise_figure(n: NoiseStats, title: str = "") -> Figure:
    """Left: histogram of the noise at one progress. Right: its standard deviation over progress."""
    fig, axes = new_figure(1, 2, panel=(3.8, 3.1))
    hist, over = axes[0]
    styles = {"actor": "C3", "critic": "C0", "actor, mask off": "C7"}
    spread = max(float(np.max(np.abs(v))) for v in n.samples.values())
    if spread == 0:
        hist.text(
            0.5,
            0.5,
            "no learned noise:\nupdates are identical\nunder every key",
            ha="center",
            va="center",
            transform=hist.transAxes,
        )
        hist.set_xticks([])
        hist.set_yticks([])
        hist.set_xlabel("noise in u (parameter units)")
    else:
        bins = np.linspace(-spread, spread, 61)
        for name, color in styles.items():
            hist.hist(n.samples[name], bins=bins, histtype="step", color=color, lw=1.5, label=name, log=True)
        hist.set_xlabel("noise in u (parameter units)")
        hist.legend(loc="upper right")
        hist.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))
    hist.set_ylabel("count (elements × keys)")
    hist.set_title(f"at progress {n.sample_progress:.2f}")
    for name, std, color in (
        ("actor", n.actor_std, styles["actor"]),
        ("critic", n.critic_std, styles["critic"]),
        ("actor, mask off", n.actor_off_std, styles["actor, mask off"]),
    ):
        over.plot(n.progresses, std, color=color, lw=1.5, marker=".", label=f"noise s.d., {name}")
    over.plot(n.progresses, n.update_scale, color="k", ls="--", lw=1, label="mean |u| (over keys)")
    over.set_xlabel("training progress")
    over.set_ylabel("parameter units")
    over.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    over.legend(loc="best")
    over.set_title("over training")
    fig.suptitle(f"{title}: learned noise (update under one key − mean over keys)".lstrip(": "))
    return fig


@styled
def per_layer_figure(lu: LayerUpdates, title: str = "") -> Figure:
    """Grouped bars: mean |u| per tensor at each progress; mean |g| below."""
    fig, axes = new_figure(2, 1, panel=(7.0, 2.6), sharex=True)
    top, bottom = axes[:, 0]
    x = np.arange(len(lu.names))
    width = 0.8 / len(lu.progresses)
    colors = _progress_colors(len(lu.progresses))
    for i, (prog, color) in enumerate(zip(lu.progresses, colors, strict=True)):
        offset = (i - (len(lu.progresses) - 1) / 2) * width
        top.bar(x + offset, lu.update[i], width, color=color, label=f"{prog:.2f}")
        bottom.bar(x + offset, lu.gradient[i], width, color=color)
    _magnitude_axis(top, lu.update)
    top.set_ylabel("mean |update|\n(noise included)")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="training progress")
    _magnitude_axis(bottom, lu.gradient)
    bottom.set_ylabel("mean |gradient|")
    bottom.set_xticks(x, lu.names, rotation=35, ha="right")
    fig.suptitle(f"{title}: per-tensor update and gradient magnitudes (per element)".lstrip(": "))
    return fig
