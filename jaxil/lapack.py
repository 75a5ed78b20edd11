"""LAPACK-backed ops that stay safe under ``vmap`` on CPU.

jaxlib runs a batched LAPACK call (QR, LU solve, eigendecomposition) by fanning the
batch out into XLA's intra-op thread pool and waiting for it from a thread of that
same pool. When as many such calls run concurrently as the pool has threads (two
on a 2-core machine: e.g. the QRs of two layers' orthogonal inits, vmapped over
seeds), every thread waits for a free one and the program hangs forever, idle.

:func:`unbatched` makes ``vmap`` of a function a loop of unbatched calls on CPU
(``jax.custom_batching.sequential_vmap``), which never fan out; on GPU/TPU the
batched call is kept. Values are identical either way. ``sequential_vmap`` has no
reverse-mode rule, so these are for forward computations (inits, exact solves).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def unbatched(fn: Callable) -> Callable:
    """``fn`` whose ``vmap`` runs as a sequential loop on CPU (see the module docstring)."""
    looped = jax.custom_batching.sequential_vmap(fn)

    def wrapped(*args):
        return looped(*args) if jax.default_backend() == "cpu" else fn(*args)

    return wrapped


solve = unbatched(lambda a, b: jnp.linalg.solve(a, b))
"""``jnp.linalg.solve`` (forward only: no reverse-mode derivative)."""
eigvalsh = unbatched(lambda a: jnp.linalg.eigvalsh(a))
"""``jnp.linalg.eigvalsh`` (forward only)."""
qr = unbatched(lambda a: jnp.linalg.qr(a))
"""``jnp.linalg.qr`` (reduced; forward only)."""
