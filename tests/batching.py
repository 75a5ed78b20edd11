"""The check behind every trainer's "vmapped seed i equals its single run" test.

``loop.run`` trains a batch of runs in one vmapped program; a run's result must not
depend on which runs it is batched with, where in the batch it sits, or how big the
batch is. :func:`check_run_is_independent_of_batch` trains run 1 of three (keys and
per-run hparams) two or three ways and asserts that every leaf of its final state
agrees:

- beside run 0 (batch [0, 1], run 1 at position 1) and beside run 2 (batch [1, 2],
  at position 0): the same compiled program twice, so it costs one compilation. A
  seed, hparam or dataset mapped to the wrong run cannot pass, and neither can
  anything that lets one run's result depend on another's;
- with ``alone=True``, also alone (a batch of one): a second compilation, which is
  what makes these tests slow, so the suite runs that case under ``-m slow``
  (:data:`ALONE`).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxil import loop

ALONE = pytest.mark.parametrize("alone", [False, pytest.param(True, marks=pytest.mark.slow)],
                                ids=["beside_others", "alone"])
"""Parametrizes a test's ``alone`` argument: False in the default suite, True under ``-m slow``."""


def _take(tree, idx: slice):
    """Rows ``idx`` of every leaf of a pytree with a leading run axis."""
    return jax.tree.map(lambda x: x[idx], tree)


def check_run_is_independent_of_batch(trainer, keys, hparams, num_steps: int, *, alone: bool, demos=None,
                                      demos_axis: int | None = None, rtol: float = 1e-5, atol: float = 1e-6,
                                      **run_kwargs) -> loop.RunResult:
    """Asserts that run 1 of ``keys`` [3] (with ``hparams`` leaves scalar or [3], and
    ``demos`` shared or [3, ...] with ``demos_axis=0``) ends in the same state beside
    run 0, beside run 2 and, if ``alone``, alone. Returns the batch [0, 1]'s result."""
    assert len(keys) == 3, "three runs: run 1 is trained beside run 0 and beside run 2"
    hparams = loop.broadcast_hparams(hparams, 3)

    def train(idx: slice) -> loop.RunResult:
        batch_demos = _take(demos, idx) if demos_axis == 0 else demos
        return loop.run(trainer, keys[idx], _take(hparams, idx), num_steps, demos=batch_demos, demos_axis=demos_axis,
                        **run_kwargs)

    first = train(slice(0, 2))
    want = _take(first.state, 1)
    # Run 1 leads each of the other batches: [1, 2], and [1] alone.
    for idx in [slice(1, 3)] + ([slice(1, 2)] if alone else []):
        got = _take(train(idx).state, 0)
        for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
    return first
