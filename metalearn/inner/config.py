"""Inner-training configuration: one frozen dataclass, validated at construction."""

from __future__ import annotations

import dataclasses
from typing import Any

from learned_optimizers.baselines import BASELINES
from metalearn.validation import field_error

ALGORITHMS = ("ppo", "a2c")
ACTIVATIONS = ("tanh", "relu")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one inner training run (PPO or A2C).

    Defaults are PureJaxRL's CartPole PPO. ``algorithm`` only picks the default
    actor objective (PPO-clip or the A2C policy gradient); any objective can be
    plugged into ``make_train``. ``optimizer`` picks the hand-designed optimizer
    used when no (learned) optimizer is given, at learning rate ``lr``
    (linearly annealed with ``anneal_lr``). ``shared_init_key`` initialises
    actor and critic from the same key, as the OPEN reference does (their
    hidden layers then start identical). ``level_lifetime`` trains each agent
    for its level's own lifetime (``env_params.lifetime`` of GridWorld levels,
    in updates) instead of ``num_updates``; updates past it are discarded, so
    ``num_updates`` should be at least the longest lifetime.

    The prediction head (``aux_head_dim`` > 0, LPG's y(s)): ``separate_prediction``
    gives it its own torso (its own parameters, so its loss never moves the
    policy's features) and its own gradient clip at ``max_grad_norm``, as the
    GROOVE reference's separate y network and optimizer; ``prediction_lr_scale``
    multiplies the optimizer's updates of its parameters (the learning rate, for
    SGD and Adam; the reference's y learns at 1/10 of π's rate).
    """

    algorithm: str = "ppo"
    total_timesteps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    optimizer: str = "adam"
    lr: float = 2.5e-4
    anneal_lr: bool = True
    adam_eps: float = 1e-5
    adam_eps_root: float = 0.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    clip_value: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True
    hidden_size: int = 64
    num_hidden_layers: int = 2
    activation: str = "tanh"
    aux_head_dim: int = 0
    separate_prediction: bool = False
    prediction_lr_scale: float = 1.0
    shared_init_key: bool = False
    normalize_obs: bool = False
    normalize_reward: bool = False
    clip_action: bool = True
    final_window: int = 10
    eval_envs: int = 16
    eval_steps: int | None = None
    return_params: bool = False
    level_lifetime: bool = False

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise field_error(self, "algorithm", " | ".join(ALGORITHMS))
        if self.optimizer not in BASELINES:  # the hand-designed optimizers
            raise field_error(self, "optimizer", " | ".join(BASELINES))
        if self.activation not in ACTIVATIONS:
            raise field_error(self, "activation", " | ".join(ACTIVATIONS))
        for f in (
            "total_timesteps",
            "num_envs",
            "num_steps",
            "update_epochs",
            "num_minibatches",
            "hidden_size",
            "final_window",
        ):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise field_error(self, f, "an integer >= 1")
        for f in ("num_hidden_layers", "aux_head_dim", "eval_envs"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 0:
                raise field_error(self, f, "an integer >= 0")
        if self.eval_steps is not None and (not isinstance(self.eval_steps, int) or self.eval_steps < 0):
            raise field_error(self, "eval_steps", "None (the env's episode limit) or an integer >= 0")
        for f in ("ent_coef", "vf_coef", "clip_eps", "max_grad_norm", "adam_eps_root"):
            if not getattr(self, f) >= 0:
                raise field_error(self, f, "a number >= 0")
        for f in ("lr", "adam_eps", "prediction_lr_scale"):
            if not getattr(self, f) > 0:
                raise field_error(self, f, "a number > 0")
        if not self.aux_head_dim and self.separate_prediction:
            raise field_error(self, "separate_prediction", "False with aux_head_dim=0 (no prediction head)")
        if not self.aux_head_dim and self.prediction_lr_scale != 1:
            raise field_error(self, "prediction_lr_scale", "1.0 with aux_head_dim=0 (no prediction head)")
        if not 0 < self.gamma <= 1:
            raise field_error(self, "gamma", "a number in (0, 1]")
        if not 0 <= self.gae_lambda <= 1:
            raise field_error(self, "gae_lambda", "a number in [0, 1]")
        if self.num_updates < 1:
            raise ValueError(
                f"TrainConfig.total_timesteps={self.total_timesteps} gives zero updates; allowed: "
                f">= num_envs * num_steps = {self.batch_size}"
            )
        if self.batch_size % self.num_minibatches:
            divisors = [d for d in range(1, self.batch_size + 1) if self.batch_size % d == 0]
            shown = ", ".join(map(str, divisors[:12])) + (", ..." if len(divisors) > 12 else "")
            raise ValueError(
                f"TrainConfig.num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {self.batch_size}; allowed: {shown}"
            )

    @property
    def batch_size(self) -> int:
        """Transitions per update: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_updates(self) -> int:
        """Number of (rollout, learn) iterations: ``total_timesteps // batch_size``."""
        return self.total_timesteps // self.batch_size

    @property
    def steps_per_update(self) -> int:
        """Optimizer steps per update: ``update_epochs * num_minibatches``."""
        return self.update_epochs * self.num_minibatches

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**d)
