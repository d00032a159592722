"""Joining a multi-process (multi-host) run with ``jax.distributed``.

Every process runs the same program; the meta-trainer's mesh then spans all
processes' devices and shards the population over them. No home-made RPC:
JAX's coordinator and collectives (gloo on CPU) do the communication.
"""

from __future__ import annotations


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """Must run before any other JAX call in the process."""
    import jax

    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id={process_id} must be in 0 .. {num_processes - 1}")
    # CPU devices talk over gloo (no effect on accelerators). Asking for the backend
    # first would initialise it, which jax.distributed.initialize forbids.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)
