"""A fixed-capacity circular replay buffer of transitions, as pure functions.

The buffer lives inside an algorithm's ``State``, so it is vmapped over seeds and
checkpointed with everything else; capacity is static, contents are traced.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil.errors import InputError
from jaxil.types import Transition


class Buffer(NamedTuple):
    data: Transition  # leaves [capacity, ...]
    ptr: jax.Array  # next row to write
    size: jax.Array  # rows filled so far (<= capacity)


def buffer_init(example: Transition, capacity: int) -> Buffer:
    """An empty buffer whose rows look like ``example`` (one transition, no batch axis)."""
    if capacity < 1:
        raise InputError(f"buffer capacity must be >= 1, got {capacity}")
    data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    return Buffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def check_write_fits(buffer_size: int, num_envs: int, train_freq: int, absorbing: bool = False) -> None:
    """Refuses a capacity below one trainer step's write: ``num_envs x train_freq`` rows, twice that
    when each termination also writes an absorbing row. A smaller buffer would overwrite rows of the
    same write (``buffer_add`` wraps), so the error comes here rather than at trace time."""
    rows = num_envs * train_freq * (2 if absorbing else 1)
    if rows > buffer_size:
        raise InputError(f"buffer_size={buffer_size} cannot hold one step's {rows} rows (num_envs={num_envs} x "
                         f"train_freq={train_freq}{' x 2 with absorbing rows' if absorbing else ''})")


def buffer_add(buf: Buffer, batch: Transition) -> Buffer:
    """Writes ``batch`` (leaves [n, ...]) at the write pointer, wrapping around."""
    capacity = jax.tree.leaves(buf.data)[0].shape[0]
    n = jax.tree.leaves(batch)[0].shape[0]
    idx = (buf.ptr + jnp.arange(n)) % capacity
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), buf.data, batch)
    return Buffer(data, (buf.ptr + n) % capacity, jnp.minimum(buf.size + n, capacity))


def buffer_sample(buf: Buffer, key: jax.Array, batch_size: int) -> Transition:
    """``batch_size`` rows drawn uniformly (with replacement) from the filled part."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buf.size, 1))
    return jax.tree.map(lambda d: d[idx], buf.data)
