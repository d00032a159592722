"""The contract between an optimizer and the inner trainer.

The trainer accepts any ``optax.GradientTransformation``. A *learned*
optimizer is a function ``meta_params -> optax.GradientTransformationExtraArgs``
whose ``update`` also reads the keyword arguments below, which the trainer
passes on every optimizer step (plain transformations never see them: the
trainer wraps them with ``optax.with_extra_args_support``).

Parameters are ``{"actor": flax_params, "critic": flax_params}``; every tree
argument below has that structure, with leaves that broadcast against the
parameter leaf they belong to.

training_progress  ()  update index / (NUM_UPDATES − 1), in [0, 1].
batch_progress     ()  epoch index / (UPDATE_EPOCHS − 1), in [0, 1] (0 with one epoch).
layer_props        tree of () float32: i / (L − 1) for the i-th layer of its network.
activations        tree of (units,) float32: mean |post-activation| of the units a
                   parameter feeds, on the current minibatch (dormancy = a / mean(a)).
actor_mask         tree of () float32: 1.0 on actor parameters, 0.0 on critic ones.
key                PRNG key, fresh for every optimizer step (for learned noise).

Gradients reach the optimizer already clipped to ``max_grad_norm`` by global
norm, separately for actor and critic (as in OPEN).
"""

UPDATE_EXTRA_ARGS = (
    "training_progress",
    "batch_progress",
    "layer_props",
    "activations",
    "actor_mask",
    "key",
)
