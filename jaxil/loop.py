"""The algorithm shape shared by every trainer, and the driver that runs it over seeds.

An algorithm is a :class:`Trainer`: pure ``init`` and ``step`` functions. The driver
compiles ``vmap`` over seeds (and Hparams) of a ``lax.scan`` over a chunk of steps,
and touches the host only between chunks (metrics, evaluation, logging).
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.policy import PolicySpec


class Trainer(NamedTuple):
    """What ``make_train`` returns.

    ``init(key, demos, hparams) -> state`` and ``step(state, demos, hparams) ->
    (state, metrics)`` are pure; ``policy(state)`` extracts the params of the
    policy described by ``policy_spec``; ``env_steps_per_step`` is the number of
    environment transitions one ``step`` consumes (0 for offline methods).
    """

    init: Callable[[jax.Array, Any, Any], Any]
    step: Callable[[Any, Any, Any], tuple[Any, dict]]
    policy: Callable[[Any], Any]
    policy_spec: PolicySpec
    env_steps_per_step: int


def broadcast_hparams(hparams, num_runs: int):
    """Gives every leaf a leading run axis of size ``num_runs`` (scalars are tiled)."""

    def tile(x):
        x = jnp.asarray(x)
        if x.ndim >= 1 and x.shape[0] == num_runs:
            return x
        return jnp.broadcast_to(x, (num_runs, *x.shape))

    return jax.tree.map(tile, hparams)


def compile_chunk(trainer: Trainer, chunk_steps: int, demos_axis: int | None = None):
    """``jit(vmap(scan(step)))`` over runs.

    ``demos_axis=None`` shares one dataset between all runs; ``0`` gives every run its
    own (e.g. demo subsets of 1, 4, 16 trajectories padded to one shape).
    """

    def chunk(state, demos, hparams):
        def body(s, _):
            return trainer.step(s, demos, hparams)

        return jax.lax.scan(body, state, None, length=chunk_steps)

    return jax.jit(jax.vmap(chunk, in_axes=(0, demos_axis, 0)))


class RunResult(NamedTuple):
    state: Any  # final state, leading run axis
    metrics: dict  # name -> np.ndarray [runs, steps]
    wall_s: float
    env_steps: int  # per run


def run(
    trainer: Trainer,
    keys: jax.Array,
    hparams,
    num_steps: int,
    demos=None,
    chunk_steps: int | None = None,
    on_chunk: Callable[[int, Any, dict], None] | None = None,
    demos_axis: int | None = None,
) -> RunResult:
    """Trains ``len(keys)`` runs for ``num_steps`` steps each.

    ``hparams`` leaves are scalars (shared) or have a leading axis of ``len(keys)``.
    ``on_chunk(steps_done, state, chunk_metrics)`` is called on the host after every
    chunk with the batched state and that chunk's ``[runs, chunk]`` metrics.
    With ``demos_axis=0`` every demos leaf has a leading run axis: run ``i`` trains on
    ``demos[i]`` (see :func:`jaxil.data.stack_subsets`).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    keys = jnp.asarray(keys)
    num_runs = keys.shape[0]
    hparams = broadcast_hparams(hparams, num_runs)
    if demos_axis not in (None, 0):
        raise ValueError(f"demos_axis must be None (shared demos) or 0 (one dataset per run), got {demos_axis}")
    if demos_axis == 0:
        sizes = {np.shape(x)[0] for x in jax.tree.leaves(demos)}
        if sizes != {num_runs}:
            raise ValueError(f"demos_axis=0 needs a leading run axis of {num_runs} on every demos leaf, got {sizes}")
    chunk_steps = min(chunk_steps or num_steps, num_steps)
    if num_steps % chunk_steps:
        raise ValueError(f"num_steps={num_steps} is not a multiple of chunk_steps={chunk_steps}")
    start = time.perf_counter()
    state = jax.jit(jax.vmap(trainer.init, in_axes=(0, demos_axis, 0)))(keys, demos, hparams)
    chunk = compile_chunk(trainer, chunk_steps, demos_axis)
    history: list[dict] = []
    for done in range(chunk_steps, num_steps + 1, chunk_steps):
        state, metrics = chunk(state, demos, hparams)
        metrics = jax.tree.map(np.asarray, metrics)
        history.append(metrics)
        if on_chunk is not None:
            on_chunk(done, state, metrics)
    jax.block_until_ready(state)
    wall = time.perf_counter() - start
    stacked = {k: np.concatenate([h[k] for h in history], axis=1) for k in history[0]}
    return RunResult(state, stacked, wall, num_steps * trainer.env_steps_per_step)
