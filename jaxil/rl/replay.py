"""A fixed-capacity circular replay buffer of transitions, as pure functions.

The buffer lives inside an algorithm's ``State``, so it is vmapped over seeds and
checkpointed with everything else; capacity is static, contents are traced.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil.types import Transition


class Buffer(NamedTuple):
    data: Transition  # leaves [capacity, ...]
    ptr: jax.Array  # next row to write
    size: jax.Array  # rows filled so far (<= capacity)


def buffer_init(example: Transition, capacity: int) -> Buffer:
    """An empty buffer whose rows look like ``example`` (one transition, no batch axis)."""
    if capacity < 1:
        raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
    data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example)
    return Buffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


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
