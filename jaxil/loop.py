"""The algorithm shape shared by every trainer, and the driver that runs it over seeds.

An algorithm is a :class:`Trainer`: pure ``init`` and ``step`` functions. The driver
compiles ``vmap`` over seeds (and Hparams) of a ``lax.scan`` over a chunk of steps,
and touches the host only between chunks (metrics, evaluation, logging).
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxil import validate
from jaxil.errors import InputError
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


RUN_AXIS = "runs"


def run_sharding(num_runs: int) -> NamedSharding | None:
    """How :func:`run` lays out a ``[num_runs, ...]`` batch: the run axis split over the
    largest number of this process's devices that divides ``num_runs`` (``None`` when
    that is one device). Runs never communicate, so each device trains its share with
    no collectives; on a CPU, :func:`jaxil.set_cpu_device_count` makes every core a
    device (the ``jaxil`` command does this by default)."""
    devices = jax.local_devices()
    count = max(k for k in range(1, min(len(devices), num_runs) + 1) if num_runs % k == 0)
    if count == 1:
        return None
    return NamedSharding(Mesh(np.array(devices[:count]), (RUN_AXIS,)), PartitionSpec(RUN_AXIS))


def place_runs(sharding: NamedSharding | None, keys, hparams, demos=None, demos_axis: int | None = None):
    """``keys``, per-run ``hparams`` (and ``demos``: split if ``demos_axis == 0``, else
    replicated) on ``sharding``; unchanged when it is ``None``."""
    if sharding is None:
        return keys, hparams, demos
    demos_sharding = sharding if demos_axis == 0 else NamedSharding(sharding.mesh, PartitionSpec())
    return jax.device_put(keys, sharding), jax.device_put(hparams, sharding), jax.device_put(demos, demos_sharding)


def init_runs(trainer: Trainer, sharding: NamedSharding | None, demos_axis: int | None = None):
    """``jit(vmap(trainer.init))`` whose states come out laid out as ``sharding``.

    Cached per (trainer, sharding, demos_axis) like :func:`compile_chunk`: another run
    of the same trainer on the same shapes (the next batch of a sweep) does not compile
    ``init`` again (3.8 s at XLA's optimisation level 0 for GAIL on SAC, pendulum).
    """
    return _per_trainer(_init, trainer, sharding, demos_axis)


def _per_trainer(build: Callable, trainer: Trainer, *args):
    """``build(trainer, *args)``, the same jitted function again for the same arguments (its
    jit cache keeps the compilations); a trainer with unhashable parts gets a fresh one."""
    try:
        return _cached_build(build, trainer, *args)
    except TypeError:
        return build(trainer, *args)


@functools.lru_cache(maxsize=32)
def _cached_build(build: Callable, trainer: Trainer, *args):
    return build(trainer, *args)


def _init(trainer: Trainer, sharding: NamedSharding | None, demos_axis: int | None):
    return jax.jit(jax.vmap(trainer.init, in_axes=(0, demos_axis, 0)),
                   **({} if sharding is None else {"out_shardings": sharding}))


def compile_chunk(trainer: Trainer, chunk_steps: int, demos_axis: int | None = None):
    """``jit(vmap(scan(step)))`` over runs.

    ``demos_axis=None`` shares one dataset between all runs; ``0`` gives every run its
    own (e.g. demo subsets of 1, 4, 16 trajectories padded to one shape). The jitted
    function is cached per (trainer, chunk_steps, demos_axis), so repeated runs of one
    trainer (batches of a sweep, a resumed run) reuse its compilations.
    """
    return _per_trainer(_chunk, trainer, chunk_steps, demos_axis)


def _chunk(trainer: Trainer, chunk_steps: int, demos_axis: int | None):

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
    diverged_at: np.ndarray | None = None
    """[runs] int: the step after which a run's loss or state first turned non-finite (it
    is then held at its last finite state), -1 for runs that never did."""

    def diverged(self) -> list[dict]:
        """``[{"run": i, "step": s}, ...]`` for the runs that diverged (see ``diverged_at``)."""
        at = np.full(len(jax.tree.leaves(self.state)[0]), -1) if self.diverged_at is None else self.diverged_at
        return [{"run": int(i), "step": int(at[i])} for i in np.flatnonzero(at >= 0)]


@jax.jit
def finite_runs(state) -> jax.Array:
    """``[runs]`` bool: every floating-point leaf of run ``i``'s state is finite."""
    leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.floating)]
    per_leaf = [jnp.isfinite(x.reshape(x.shape[0], -1)).all(1) for x in leaves]
    return jnp.stack(per_leaf).all(0) if per_leaf else jnp.ones(jax.tree.leaves(state)[0].shape[0], bool)


def finite_losses(metrics: dict) -> np.ndarray:
    """``[runs]`` bool: every metric named ``*loss*`` is finite over the chunk (other
    metrics, e.g. the mean return of episodes that ended, may be NaN by design)."""
    if not metrics:
        return np.True_
    runs = len(next(iter(metrics.values())))
    ok = np.ones(runs, bool)
    for name, values in metrics.items():
        if "loss" in name:
            ok &= np.isfinite(np.asarray(values).reshape(runs, -1)).all(1)
    return ok


@jax.jit
def hold_finite(new_state, old_state, ok: jax.Array):
    """Run ``i`` takes ``new_state`` where ``ok[i]``, else keeps ``old_state``."""
    def pick(new, old):
        return jnp.where(ok.reshape(-1, *(1,) * (new.ndim - 1)), new, old)

    return jax.tree.map(pick, new_state, old_state)


def run(
    trainer: Trainer,
    keys: jax.Array,
    hparams,
    num_steps: int,
    demos=None,
    chunk_steps: int | None = None,
    on_chunk: Callable[[int, Any, dict], None] | None = None,
    demos_axis: int | None = None,
    start_state: Any = None,
    start_step: int = 0,
    start_metrics: dict | None = None,
) -> RunResult:
    """Trains ``len(keys)`` runs for ``num_steps`` steps each.

    ``hparams`` leaves are scalars (shared) or have a leading axis of ``len(keys)``.
    ``on_chunk(steps_done, state, chunk_metrics)`` is called on the host after every
    chunk with the batched state and that chunk's ``[runs, chunk]`` metrics.
    With ``demos_axis=0`` every demos leaf has a leading run axis: run ``i`` trains on
    ``demos[i]`` (see :func:`jaxil.data.stack_subsets`).

    A fresh run's batch is split over this process's devices (:func:`run_sharding`).
    Resuming (e.g. from :mod:`jaxil.checkpoint`): ``start_state`` is a batched state
    saved after ``start_step`` steps (a multiple of ``chunk_steps``; 0 for a state the
    caller initialised itself, e.g. with an explicit sharding); ``init`` is skipped and
    the loop runs the remaining chunks. ``start_metrics`` (``[runs, start_step]``
    arrays) is prepended to the returned metrics; ``wall_s`` counts this call only.
    """
    if num_steps < 1:
        raise InputError(f"num_steps must be >= 1, got {num_steps}")
    keys = jnp.asarray(keys)
    num_runs = keys.shape[0]
    if all(getattr(x, "is_fully_addressable", True) for x in jax.tree.leaves(hparams)):
        validate.check_hparams(hparams, type(hparams).__module__.rpartition(".")[2])
    hparams = broadcast_hparams(hparams, num_runs)
    if demos_axis not in (None, 0):
        raise InputError(f"demos_axis must be None (shared demos) or 0 (one dataset per run), got {demos_axis}")
    if demos_axis == 0:
        sizes = {np.shape(x)[0] for x in jax.tree.leaves(demos)}
        if sizes != {num_runs}:
            raise InputError(f"demos_axis=0 needs a leading run axis of {num_runs} on every demos leaf, got {sizes}")
    chunk_steps = min(chunk_steps or num_steps, num_steps)
    if num_steps % chunk_steps:
        raise InputError(f"num_steps={num_steps} is not a multiple of chunk_steps={chunk_steps}")
    if start_step % chunk_steps or not 0 <= start_step <= num_steps or (start_step > 0 and start_state is None):
        raise InputError(f"start_step={start_step} must be a multiple of chunk_steps={chunk_steps} in "
                         f"[0, {num_steps}] and needs a start_state")
    start = time.perf_counter()
    if start_state is None:
        # A state the caller made keeps its layout; a fresh one is split over the devices.
        sharding = run_sharding(num_runs) if jax.process_count() == 1 else None
        keys, hparams, demos = place_runs(sharding, keys, hparams, demos, demos_axis)
        state = init_runs(trainer, sharding, demos_axis)(keys, demos, hparams)
    else:
        state = start_state
    chunk = compile_chunk(trainer, chunk_steps, demos_axis)
    history: list[dict] = [] if not start_metrics else [jax.tree.map(np.asarray, start_metrics)]
    diverged_at = np.full(num_runs, -1)
    for done in range(start_step + chunk_steps, num_steps + 1, chunk_steps):
        state, diverged_at, metrics = _guarded_chunk(chunk, state, demos, hparams, done - chunk_steps, chunk_steps,
                                                       diverged_at)
        history.append(metrics)
        if on_chunk is not None:
            on_chunk(done, state, metrics)
    jax.block_until_ready(state)
    wall = time.perf_counter() - start
    stacked = {k: np.concatenate([h[k] for h in history], axis=1) for k in (history[0] if history else {})}
    return RunResult(state, stacked, wall, num_steps * trainer.env_steps_per_step, diverged_at)


def _guarded_chunk(chunk, state, demos, hparams, steps_before: int, chunk_steps: int, diverged_at: np.ndarray):
    """One chunk; a run whose loss or state turns non-finite keeps its state from before the chunk.

    The other runs are unaffected (vmapped runs never mix), so a sweep goes on; the
    held run is flagged in ``diverged_at`` with the last step it completed finitely,
    and checkpoints taken later hold its last finite state.
    """
    new_state, metrics = chunk(state, demos, hparams)
    metrics = jax.tree.map(np.asarray, metrics)
    ok = np.asarray(finite_runs(new_state)) & finite_losses(metrics)
    if ok.all():
        return new_state, diverged_at, metrics
    diverged_at = np.where((~ok) & (diverged_at < 0), steps_before, diverged_at)
    for i in np.flatnonzero((~ok) & (diverged_at == steps_before)):
        warnings.warn(f"run {i} diverged: its loss or state turned non-finite between steps {steps_before} and "
                      f"{steps_before + chunk_steps}; it keeps its last finite state "
                      f"(step {steps_before}) and the other runs go on", RuntimeWarning, stacklevel=3)
    return hold_finite(new_state, state, jnp.asarray(ok)), diverged_at, metrics
