"""Sweeps: seeds x hyperparameters as one vmapped program, sharded over devices and hosts.

A sweep is ``num_seeds x num_settings`` runs, where the settings are the product of
``--grid NAME=v1,v2,...`` lists, times ``num_draws`` random draws of the
``--random NAME=DIST:LOW:HIGH`` fields. Runs are ordered **seed-major**: run ``r``
has seed index ``r // num_settings`` and setting index ``r % num_settings``; every
per-run list in ``results.json`` follows that order. Run ``r`` trains with the same
PRNG key as seed ``r // num_settings`` of ``jaxil train`` with the same ``--seed``,
so a one-setting sweep reproduces ``jaxil train``.

All runs are one ``jax.jit(jax.vmap(lax.scan(step)))`` program (:func:`jaxil.loop.run`)
with per-run ``Hparams`` arrays. The run axis is sharded over the local devices
(``NamedSharding`` on a 1-D mesh, padded to a multiple of the device count); with
several processes (``jax.distributed``) each process trains a contiguous share of the
runs and process 0 gathers the results. When all runs do not fit in memory at once
they go in sequential batches (``max_batch``, or an estimate from the device's
memory statistics where the backend reports them).
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxil import algos, eval as ev, loop, policy as pol, runs, validate
from jaxil import logging as jlog
from jaxil.checkpoint import Checkpointer
from jaxil.errors import InputError
from jaxil.results import write_results

RUN_AXIS = loop.RUN_AXIS
DISTRIBUTIONS = ("uniform", "loguniform")
RUN_ORDER = "seed-major: run r has seed index r // num_settings and setting index r % num_settings"


# ---- hyperparameter settings ---------------------------------------------------


class Draw(NamedTuple):
    """``NAME=DIST:LOW:HIGH``: uniform or log-uniform on ``[low, high]``."""

    dist: str
    low: float
    high: float


def _field_default(hparams, name: str, flag: str):
    fields = hparams._asdict()
    if name not in fields:
        raise InputError(f"{flag} {name}: {type(hparams).__module__}.{type(hparams).__name__} has no field "
                         f"{name!r}; valid fields: {', '.join(fields)}")
    return fields[name]


def _parse_value(text: str, default, where: str):
    kind = type(default) if isinstance(default, (bool, int, float)) else float
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise InputError(text)
            return text.lower() in ("true", "1")
        value = kind(text) if kind is int else float(text)
    except ValueError:
        raise InputError(f"{where}: cannot parse {text!r} as {kind.__name__}") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: {text!r} is not a finite number")
    return value


def _split_spec(spec: str, flag: str, form: str) -> tuple[str, str]:
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip():
        raise InputError(f"{flag} {spec!r}: expected {form}")
    return name.strip(), rest


def parse_grid(specs: Sequence[str], hparams) -> dict[str, list]:
    """``["lr=1e-3,3e-3", ...]`` -> ``{"lr": [0.001, 0.003]}``, checked against ``hparams``' fields."""
    grid: dict[str, list] = {}
    for spec in specs:
        name, values = _split_spec(spec, "--grid", "NAME=v1,v2,...")
        default = _field_default(hparams, name, "--grid")
        if name in grid:
            raise InputError(f"--grid {name} is given twice; put all its values in one list")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not items:
            raise InputError(f"--grid {name}: empty list of values (expected {name}=v1,v2,...)")
        grid[name] = [_parse_value(v, default, f"--grid {name}") for v in items]
    return grid


def parse_random(specs: Sequence[str], hparams) -> dict[str, Draw]:
    """``["lr=loguniform:1e-4:1e-2", ...]`` -> ``{"lr": Draw("loguniform", 1e-4, 1e-2)}``."""
    draws: dict[str, Draw] = {}
    form = f"NAME=DIST:LOW:HIGH with DIST one of {DISTRIBUTIONS}"
    for spec in specs:
        name, rest = _split_spec(spec, "--random", form)
        default = _field_default(hparams, name, "--random")
        if isinstance(default, (bool, int)):
            raise InputError(f"--random {name}: only float fields can be drawn (it is {type(default).__name__})")
        if name in draws:
            raise InputError(f"--random {name} is given twice")
        parts = rest.split(":")
        if len(parts) != 3 or parts[0] not in DISTRIBUTIONS:
            raise InputError(f"--random {spec!r}: expected {form}")
        low, high = (_parse_value(p, 0.0, f"--random {name}") for p in parts[1:])
        if not low < high or (parts[0] == "loguniform" and low <= 0):
            raise InputError(f"--random {name}: need LOW < HIGH{' and LOW > 0 for loguniform' * (parts[0] == 'loguniform')}"
                             f", got {low} and {high}")
        draws[name] = Draw(parts[0], low, high)
    return draws


def make_settings(base, grid: dict[str, list], draws: dict[str, Draw], num_draws: int, seed: int) -> list:
    """The grid's product, each combined with ``num_draws`` random draws (host-side,
    ``numpy`` seeded by ``seed``); one ``Hparams`` per setting, ``base`` elsewhere."""
    if draws and num_draws < 1:
        raise InputError("--random needs --num-draws >= 1")
    if num_draws and not draws:
        raise InputError("--num-draws needs at least one --random NAME=DIST:LOW:HIGH")
    if set(grid) & set(draws):
        raise InputError(f"{sorted(set(grid) & set(draws))} are both in --grid and --random")
    rng = np.random.default_rng([seed, 0x5EE9])

    def sample(d: Draw) -> float:
        if d.dist == "loguniform":
            return float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
        return float(rng.uniform(d.low, d.high))

    drawn = [{n: sample(d) for n, d in draws.items()} for _ in range(num_draws)] or [{}]
    return [base._replace(**dict(zip(grid, combo)), **d) for combo in itertools.product(*grid.values())
            for d in drawn]


def stack_settings(settings: Sequence) -> Any:
    """Hparams whose leaves are ``[num_settings]`` arrays in jax's default dtypes."""
    return jax.tree.map(lambda *xs: np.asarray(xs, dtype=jnp.asarray(xs[0]).dtype), *settings)


def run_indices(num_seeds: int, num_settings: int) -> tuple[np.ndarray, np.ndarray]:
    """Seed index and setting index of every run, seed-major."""
    r = np.arange(num_seeds * num_settings)
    return r // num_settings, r % num_settings


def setting_label(setting, names: Sequence[str]) -> str:
    if not names:
        return "default"
    return ",".join(f"{n}={getattr(setting, n):.4g}" for n in names)


# ---- devices, processes, batches ------------------------------------------------


def init_distributed(coordinator: str | None, num_processes: int = 1, process_id: int = 0) -> None:
    """``jax.distributed.initialize`` for a multi-process sweep; call before any jax computation."""
    if coordinator is None:
        if num_processes != 1 or process_id != 0:
            raise InputError("--num-processes / --process-id need --coordinator HOST:PORT")
        return
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise InputError(f"need 0 <= process_id < num_processes, got {process_id} and {num_processes}")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


class RunAxis:
    """The run axis sharded over this process's devices (``local``) and, for
    checkpoints written by all processes together, over every device (``world``)."""

    def __init__(self):
        self.local = Mesh(np.array(sorted(jax.local_devices(), key=lambda d: d.id)), (RUN_AXIS,))
        world = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
        self.world = Mesh(np.array(world), (RUN_AXIS,))
        self.num_devices = self.local.devices.size
        self.num_processes = jax.process_count()
        self.sharded = NamedSharding(self.local, PartitionSpec(RUN_AXIS))
        self.replicated = NamedSharding(self.local, PartitionSpec())

    def put(self, tree):
        return jax.device_put(tree, self.sharded)

    def to_saved(self, tree):
        """Host-local run-sharded arrays -> global arrays over all processes' devices."""
        tree = self.put(tree)
        if self.num_processes == 1:
            return tree
        sharding = NamedSharding(self.world, PartitionSpec(RUN_AXIS))
        return jax.tree.map(lambda x: jax.make_array_from_single_device_arrays(
            (x.shape[0] * self.num_processes, *x.shape[1:]), sharding, [s.data for s in x.addressable_shards]), tree)

    def from_saved(self, tree):
        if self.num_processes == 1:
            return tree
        return jax.tree.map(lambda x: jax.make_array_from_single_device_arrays(
            (x.shape[0] // self.num_processes, *x.shape[1:]), self.sharded, [s.data for s in x.addressable_shards]),
            tree)

    def abstract(self, shape, dtype):
        """The saved (global) form of a local ``[batch, ...]`` array, for restoring."""
        if self.num_processes == 1:
            return jax.ShapeDtypeStruct(shape, dtype, sharding=self.sharded)
        return jax.ShapeDtypeStruct((shape[0] * self.num_processes, *shape[1:]), dtype,
                                    sharding=NamedSharding(self.world, PartitionSpec(RUN_AXIS)))


class Batches(NamedTuple):
    """This process's share of the runs, cut into sequential batches.

    Every process gets ``share`` runs (the last share is padded by repeating the
    sweep's last run); every batch is padded to a multiple of the local device count
    by repeating its last run. For batch ``b``: ``positions[b]`` are positions in the
    share, ``sources[b]`` the runs they train, ``kept[b]`` marks the entries that are
    not device padding and ``real[b]`` those that are runs of the sweep.
    """

    share: int
    positions: list[np.ndarray]
    sources: list[np.ndarray]
    kept: list[np.ndarray]
    real: list[np.ndarray]


def plan_batches(num_runs: int, num_processes: int, process_id: int, num_devices: int,
                 max_batch: int | None) -> Batches:
    if num_runs < 1:
        raise InputError("a sweep needs at least one run")
    if max_batch is not None and max_batch < 1:
        raise InputError(f"--max-batch must be >= 1, got {max_batch}")
    share = -(-num_runs // num_processes)
    batch = share if max_batch is None else min(max_batch, share)
    batch = -(-batch // num_devices) * num_devices  # whole runs per device
    plan = Batches(share, [], [], [], [])
    for start in range(0, share, batch):
        count = min(batch, share - start)
        pos = np.arange(start, start + count)
        pos = np.concatenate([pos, np.full(-count % num_devices, pos[-1])])
        glob = process_id * share + pos
        kept = np.arange(len(pos)) < count
        plan.positions.append(pos)
        plan.sources.append(np.minimum(glob, num_runs - 1))
        plan.kept.append(kept)
        plan.real.append(kept & (glob < num_runs))
    return plan


def estimate_max_batch(trainer: loop.Trainer, demos, hparams, chunk_steps: int, num_devices: int = 1,
                       free_bytes: int | None = None, fraction: float = 0.8) -> int | None:
    """Runs that fit in ``fraction`` of a device's free memory, times ``num_devices``.

    Compiles the chunk program for one run and reads XLA's memory analysis
    (arguments + outputs + temporaries, less the shared demos). ``free_bytes`` defaults
    to the first device's ``memory_stats()`` (``None`` where the backend reports none,
    e.g. CPU: then no estimate).
    """
    if free_bytes is None:
        stats = jax.local_devices()[0].memory_stats()
        if not stats or "bytes_limit" not in stats:
            return None
        free_bytes = stats["bytes_limit"] - stats.get("bytes_in_use", 0)
    hp = loop.broadcast_hparams(hparams, 1)
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    state = jax.eval_shape(jax.vmap(trainer.init, in_axes=(0, None, 0)), keys, demos, hp)
    analysis = loop.compile_chunk(trainer, chunk_steps).lower(state, demos, hp).compile().memory_analysis()
    if analysis is None:
        return None
    demo_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(demos))
    per_run = max(analysis.argument_size_in_bytes - demo_bytes, 0) + analysis.output_size_in_bytes \
        + analysis.temp_size_in_bytes
    return max(1, int(fraction * free_bytes // max(per_run, 1))) * num_devices


def gather_runs(tree, share: int, num_runs: int):
    """Per-process ``[positions, ...]`` numpy arrays -> ``[num_runs, ...]`` on every process."""
    if jax.process_count() == 1:
        return jax.tree.map(lambda x: np.asarray(x)[:num_runs], tree)
    from jax.experimental import multihost_utils

    stacked = multihost_utils.process_allgather(tree, tiled=False)  # [processes, positions, ...]
    return jax.tree.map(lambda x: np.asarray(x)[:, :share].reshape(-1, *x.shape[2:])[:num_runs], stacked)


# ---- the sweep ------------------------------------------------------------------


class SweepResult(NamedTuple):
    result: dict  # what results.json holds
    returns: np.ndarray  # [runs] final evaluation means
    normalized: np.ndarray | None  # [runs]
    metrics: dict  # name -> [runs, steps]
    policy_params: Any  # [runs, ...] final policy params of every run
    settings: list  # Hparams per setting
    seed_index: np.ndarray  # [runs]
    setting_index: np.ndarray  # [runs]


def make_evaluate(env, trainer: loop.Trainer, num_episodes: int = 32):
    """``evaluate(states, keys) -> (mean returns [runs], policy params)``: deterministic-policy
    evaluation of every run (as ``experts.evaluate_seeds``, with the caller's keys), one
    jitted function so that batches of one size share a compilation."""
    act = pol.make_act(trainer.policy_spec)

    @jax.jit
    def evaluate(states, keys):
        params = jax.vmap(trainer.policy)(states)
        returns = jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, num_episodes))(params, keys)
        return returns.mean(1), params

    return evaluate


def sweep_job(algo: str, env_name: str, out: str, seeds: int = 4, steps: int | None = None, seed: int = 0,
              demos: str | None = None, num_trajectories: int | None = None, expert: str | None = None,
              grid: Sequence[str] = (), random: Sequence[str] = (), num_draws: int = 0,
              max_batch: int | None = None, chunk_steps: int | None = None, checkpoint_every: int = 0,
              keep_checkpoints: int = 3, resume: bool = False, tensorboard: bool = True, config: Any = None,
              hparams: Any = None, on_chunk=None, quiet: bool = False, subsample: int | None = None,
              offline: bool = False, replay: str | None = None) -> SweepResult:
    """Trains ``seeds`` x settings runs of ``algo`` and writes ``out/results.json`` (process 0).

    ``checkpoint_every=K`` saves the whole batched state every K chunks under
    ``out/checkpoints`` (keeping ``keep_checkpoints``); ``resume`` continues from the
    newest complete checkpoint. ``on_chunk`` is called as in :func:`jaxil.loop.run`
    with each batch's state and metrics.
    """
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    if checkpoint_every < 0:
        raise InputError(f"--checkpoint-every must be >= 0, got {checkpoint_every}")
    env = runs.make_env(env_name)
    trainer, cfg, base, n, chunk = runs.build_trainer(algo, env, steps, expert, config, offline=offline)
    base = hparams if hparams is not None else base
    if chunk_steps is not None:
        if chunk_steps < 1 or n % chunk_steps:
            raise InputError(f"--chunk-steps must be >= 1 and divide the {n} steps, got {chunk_steps}")
        chunk = chunk_steps
    grid_values, draws = parse_grid(grid, base), parse_random(random, base)
    names = [*grid_values, *draws]
    settings = make_settings(base, grid_values, draws, num_draws, seed)
    demo_arrays, _, refs, extra = runs.job_demos(algo, env, demos, num_trajectories, subsample, seed, replay,
                                                    offline)
    seed_index, setting_index = run_indices(seeds, len(settings))
    num_runs = len(seed_index)

    k_train, k_eval = jax.random.split(jax.random.PRNGKey(seed))
    run_keys = np.asarray(jax.random.split(k_train, seeds))[seed_index]
    eval_keys = np.asarray(jax.random.split(k_eval, seeds))[seed_index]
    run_hparams = jax.tree.map(lambda x: x[setting_index], stack_settings(settings))
    validate.check_hparams(run_hparams, algo)  # on the host, before any sharding

    axis = RunAxis()
    if max_batch is None:
        max_batch = estimate_max_batch(trainer, demo_arrays, base, chunk, axis.num_devices)
    plan = plan_batches(num_runs, axis.num_processes, jax.process_index(), axis.num_devices, max_batch)
    labels = [setting_label(s, names) for s in settings]
    run_names = [f"run{r:04d}_seed{seed_index[r]}_{labels[setting_index[r]]}" for r in range(num_runs)]
    demos_dev = None if demo_arrays is None else jax.device_put(demo_arrays, axis.replicated)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)), out_shardings=axis.sharded)
    fingerprint = {"algo": algo, "env": env_name, "seeds": seeds, "seed": seed, "steps": n, "demos": demos,
                   "num_trajectories": num_trajectories, "subsample": subsample, "config": repr(cfg),
                   "settings": [s._asdict() for s in settings], "batches": [len(p) for p in plan.positions],
                   "processes": axis.num_processes}

    ctx = _BatchContext(trainer, n, chunk, axis, init, make_evaluate(env, trainer), demos_dev, out, fingerprint,
                        checkpoint_every, keep_checkpoints, resume, tensorboard, quiet, on_chunk, setting_index,
                        labels, run_names)
    per_pos: dict[int, tuple] = {}
    wall = 0.0
    for b in range(len(plan.positions)):
        pos, src, kept, real = plan.positions[b], plan.sources[b], plan.kept[b], plan.real[b]
        keys_b, hp_b = axis.put(jnp.asarray(run_keys[src])), axis.put(jax.tree.map(lambda x: x[src], run_hparams))
        result = _run_batch(ctx, b, keys_b, hp_b, src, real)
        wall += result.wall_s
        returns, params = jax.tree.map(np.asarray, ctx.evaluate(result.state, axis.put(jnp.asarray(eval_keys[src]))))
        for i in np.flatnonzero(kept):
            per_pos[int(pos[i])] = (returns[i], {k: v[i] for k, v in result.metrics.items()},
                                    jax.tree.map(lambda x: x[i], params), result.diverged_at[i])

    local = [per_pos[p] for p in range(plan.share)]
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *local)
    returns, metrics, params, diverged_at = gather_runs(stacked, plan.share, num_runs)
    extra["diverged"] = [{"run": int(r), "seed": int(seed_index[r]), "step": int(diverged_at[r])}
                         for r in np.flatnonzero(diverged_at >= 0)]
    if axis.num_processes > 1:
        from jax.experimental import multihost_utils

        wall = float(np.max(multihost_utils.process_allgather(np.float64(wall))))
    norm = None if refs is None else (returns - refs[0]) / (refs[1] - refs[0])
    if algo in algos.NEEDS_EXPERT:
        extra["expert"] = expert or env_name
    out_result = {}
    if jax.process_index() == 0:
        out_result = _write_outputs(out, algo, env_name, trainer, cfg, settings, names, labels, grid_values,
                                    draws, num_draws, seed, seeds, seed_index, setting_index, returns, norm,
                                    metrics, n, wall, axis, plan, extra, quiet)
    return SweepResult(out_result, returns, norm, metrics, params, settings, seed_index, setting_index)


class _BatchContext(NamedTuple):
    trainer: loop.Trainer
    num_steps: int
    chunk_steps: int
    axis: RunAxis
    init: Any  # jitted, run-sharded init
    evaluate: Any
    demos: Any
    out: str
    fingerprint: dict
    checkpoint_every: int
    keep_checkpoints: int
    resume: bool
    tensorboard: bool
    quiet: bool
    on_chunk: Any
    setting_index: np.ndarray
    labels: list
    run_names: list


def _run_batch(ctx: _BatchContext, b: int, keys, hparams, sources: np.ndarray, real: np.ndarray) -> loop.RunResult:
    """Trains batch ``b`` (resuming from its newest checkpoint if asked) with progress bars,
    TensorBoard and checkpoints hooked into ``loop.run``'s ``on_chunk``."""
    ckpt, start_state, start_step, start_metrics = None, None, 0, None
    if ctx.checkpoint_every:
        ckpt = Checkpointer(os.path.join(ctx.out, "checkpoints", f"batch-{b:03d}"), ctx.chunk_steps,
                            ctx.checkpoint_every, ctx.keep_checkpoints, {**ctx.fingerprint, "batch": b},
                            prepare=ctx.axis.to_saved)
        if not ctx.resume and ckpt.steps():
            raise InputError(f"{ckpt.directory} already holds checkpoints: pass --resume to continue that run, "
                             f"or write to a new --out")
        restored = ckpt.restore_latest(*_abstract(ctx.axis, ctx.trainer, keys, ctx.demos, hparams)) \
            if ctx.resume else None
        if restored is not None:
            start_state, start_step = ctx.axis.from_saved(restored.state), restored.steps_done
            start_metrics = jax.tree.map(np.asarray, ctx.axis.from_saved(restored.metrics))
        ckpt.start(start_metrics)
    if start_state is None:
        start_state = ctx.init(keys, ctx.demos, hparams)
    per_step = ctx.trainer.env_steps_per_step
    progress = None if ctx.quiet else jlog.SweepProgress(
        _progress_groups(sources, real, ctx.setting_index, ctx.labels), ctx.num_steps, per_step, start_step)
    tb = _tensorboard(os.path.join(ctx.out, "tensorboard"), [ctx.run_names[r] for r in sources[real]], real,
                      per_step) if ctx.tensorboard else None
    try:
        result = loop.run(ctx.trainer, keys, hparams, ctx.num_steps, demos=ctx.demos, chunk_steps=ctx.chunk_steps,
                          on_chunk=jlog.chain(progress, tb, ckpt and ckpt.on_chunk, ctx.on_chunk),
                          start_state=start_state, start_step=start_step, start_metrics=start_metrics)
        if ckpt is not None:
            ckpt.save(ctx.num_steps, result.state, force=True)
    finally:
        for closer in (progress, tb, ckpt):
            if closer is not None:
                closer.close()
    return result


class _tensorboard:
    """TensorBoard logging of the real (not padding) runs of a batch."""

    def __init__(self, logdir: str, names: list[str], real: np.ndarray, env_steps_per_step: int):
        self.runs, self.real = jlog.TensorBoardRuns(logdir, names, env_steps_per_step), real

    def __call__(self, done, state, metrics):
        self.runs(done, state, {k: np.asarray(v)[self.real] for k, v in metrics.items()})

    def close(self):
        self.runs.close()


def _abstract(axis: RunAxis, trainer, keys, demos, hp):
    shapes = jax.eval_shape(jax.vmap(trainer.init, in_axes=(0, None, 0)), keys, demos, hp)
    state = jax.tree.map(lambda s: axis.abstract(s.shape, s.dtype), shapes)
    batch = keys.shape[0]

    def metric_abstract(steps_done, saved):
        if saved is None:
            return {}
        return {k: axis.abstract((batch, steps_done), m.dtype) for k, m in saved.items()}

    return state, metric_abstract


def _progress_groups(sources: np.ndarray, real: np.ndarray, setting_index: np.ndarray, labels: list[str],
                     max_bars: int = 16) -> dict[str, list[int]]:
    """One bar per setting (its seeds together) of the batch, or one for the batch."""
    groups: dict[str, list[int]] = {}
    for i in np.flatnonzero(real):
        groups.setdefault(labels[setting_index[sources[i]]], []).append(int(i))
    if len(groups) > max_bars:
        idx = [i for g in groups.values() for i in g]
        return {f"runs {sources[idx].min()}-{sources[idx].max()}": idx}
    return groups


def _write_outputs(out, algo, env_name, trainer, cfg, settings, names, labels, grid_values, draws, num_draws,
                   seed, seeds, seed_index, setting_index, returns, norm, metrics, n, wall, axis, plan, extra,
                   quiet) -> dict:
    per_step = trainer.env_steps_per_step
    result = write_results(
        out, algo=algo, env=env_name, returns=returns, normalized_returns=norm, env_steps=n * per_step,
        wall_s=wall, config=cfg, hparams=[settings[i] for i in setting_index], num_seeds=seeds,
        num_runs=len(returns), num_settings=len(settings), run_order=RUN_ORDER, seed_index=seed_index,
        setting_index=setting_index, settings=settings, setting_labels=labels, swept=names,
        grid=grid_values, random={k: f"{d.dist}:{d.low}:{d.high}" for k, d in draws.items()},
        num_draws=num_draws, base_seed=seed, num_processes=axis.num_processes,
        devices_per_process=axis.num_devices, batch_sizes=[len(p) for p in plan.positions], **extra)
    runs_cols = {"run": range(len(returns)), "seed": seed_index,
                 **{name: [getattr(settings[i], name) for i in setting_index] for name in names}}
    jlog.write_metrics_csv(os.path.join(out, "metrics.csv"), metrics, max(per_step, 1), runs=runs_cols)
    metric = next((m for m in ("episode_return", "loss") if m in metrics), sorted(metrics)[0])
    steps = metrics[metric].shape[1]
    x = np.arange(1, steps + 1) * max(per_step, 1)
    curves = {labels[s]: (x, metrics[metric][setting_index == s]) for s in range(len(settings))}
    jlog.plot_curves(os.path.join(out, "curve.png"), curves, metric.replace("_", " "), f"{algo} {env_name} sweep",
                     xlabel="env steps" if per_step else "trainer steps")
    if not quiet:
        rows = {labels[s]: (returns[setting_index == s], None if norm is None else norm[setting_index == s])
                for s in range(len(settings))}
        jlog.print_score_table(f"{algo} sweep on {env_name} ({len(returns)} runs)", rows)
    return result
