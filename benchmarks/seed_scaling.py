"""Per-seed wall time against the number of vmapped seeds, per algorithm, on cartpole.

    python -m benchmarks.seed_scaling [--quick] [--seeds 1,8,64,256] [--algos ppo,bc] [--reps 3]

For every algorithm in :data:`ALGOS` and every seed count, all seeds train in one
``jit(vmap(scan))`` program through :func:`jaxil.loop.run`, measured two ways:

- **end to end**: a fresh ``loop.run`` (a new trainer, so nothing is cached):
  tracing, compilation, init, every chunk with its host transfer of metrics;
- **excluding compilation**: init and chunk programs compiled ahead of time
  (``lower().compile()``, timed separately as ``compile_s``), then init + all chunks
  + host transfers as ``loop.run`` does them, median of ``--reps``.

The seeds are laid out as ``loop.run`` lays out a fresh run: split over the local
devices (:func:`jaxil.loop.run_sharding`); on a CPU this process makes every core a
device first (``--cpu-devices``, :func:`jaxil.set_cpu_device_count`), as the ``jaxil``
command does. At the goal's seed count (64) the same seeds are also measured on one
device, beside it.

Per-seed time = time / seeds; ``speedup`` = per-seed time at 1 seed / per-seed time
at N seeds (how much cheaper a seed gets by vmapping it with the others). Writes
``benchmarks/results/seed_scaling-<date>-<device>[-quick].{json,md}``.

An algorithm is one entry in :data:`ALGOS`: a function ``quick -> Setup``.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import datetime
import os
import platform
import statistics
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from jaxil import envs, experts, loop, runs
from jaxil.algos import bc
from benchmarks import report
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))


class Setup(NamedTuple):
    trainer: loop.Trainer
    hparams: Any
    demos: Any  # None for RL
    num_steps: int
    chunk_steps: int
    description: str


def ppo_cartpole(quick: bool) -> Setup:
    """The shipped cartpole expert recipe (4 envs x 128 steps, 4 epochs x 4 minibatches)."""
    rec = experts.recipe("cartpole")
    steps = 16 if quick else 64
    rec = experts.with_steps(rec, steps)
    return Setup(experts.make_trainer(rec, envs.make("cartpole")), rec.hparams, None, steps, steps // 2,
                 f"PPO, cartpole recipe ({rec.config.num_envs} envs x {rec.config.num_steps} steps per iteration), "
                 f"{steps} iterations")


def bc_cartpole(quick: bool) -> Setup:
    """BC with its default Config (MLP 64-64, batch 256, 50 updates per step) on 10 shipped trajectories."""
    env = envs.make("cartpole")
    demos, _ = runs.load_task_demos("cartpole", env, 10)
    steps = 20 if quick else 100
    config = bc.Config()
    return Setup(bc.make_train(config, env), bc.Hparams(), demos, steps, steps // 2,
                 f"BC, MLP {config.hidden}, batch {config.batch_size}, {steps} x {config.updates_per_step} updates, "
                 "10 cartpole trajectories")


def gail_cartpole(quick: bool) -> Setup:
    """GAIL with `jaxil train gail --env cartpole`'s defaults (PPO 8 envs x 128 steps) on 1 shipped trajectory."""
    env = envs.make("cartpole")
    demos, _ = runs.load_task_demos("cartpole", env, 1)
    steps = 16 if quick else 64
    trainer, config, hparams, _, _ = runs.build_trainer("gail", env, steps)
    return Setup(trainer, hparams, demos, steps, steps // 2,
                 f"GAIL, PPO {config.ppo.num_envs} envs x {config.ppo.num_steps} steps, {config.disc_updates} "
                 f"discriminator updates per iteration, {steps} iterations, 1 cartpole trajectory")


ALGOS: dict[str, Callable[[bool], Setup]] = {"ppo": ppo_cartpole, "bc": bc_cartpole, "gail": gail_cartpole}


def _sharding(seeds: int, split: bool):
    """loop.run's layout of a fresh run (``split``), or everything on one device."""
    return loop.run_sharding(seeds) if split else None


def end_to_end(setup: Setup, seeds: int, split: bool = True) -> float:
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    start = time.perf_counter()
    state = None
    if not split:  # a state made on one device keeps that layout in loop.run
        hp = loop.broadcast_hparams(setup.hparams, seeds)
        state = loop.init_runs(setup.trainer, None)(keys, setup.demos, hp)
    result = loop.run(setup.trainer, keys, setup.hparams, setup.num_steps, demos=setup.demos,
                      chunk_steps=setup.chunk_steps, start_state=state)
    jax.block_until_ready(result.state)
    return time.perf_counter() - start


def excluding_compile(setup: Setup, seeds: int, reps: int, split: bool = True) -> tuple[float, float]:
    """(compile seconds, median seconds of init + all chunks with the compiled programs)."""
    sharding = _sharding(seeds, split)
    keys, hp, demos = loop.place_runs(sharding, jax.random.split(jax.random.PRNGKey(0), seeds),
                                      loop.broadcast_hparams(setup.hparams, seeds), setup.demos)
    start = time.perf_counter()
    init = loop.init_runs(setup.trainer, sharding).lower(keys, demos, hp).compile()
    state = init.out_info  # shapes and layout of the states
    chunk = loop.compile_chunk(setup.trainer, setup.chunk_steps).lower(state, demos, hp).compile()
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        state = init(keys, demos, hp)
        for _ in range(setup.num_steps // setup.chunk_steps):
            state, metrics = chunk(state, demos, hp)
            jax.tree.map(np.asarray, metrics)  # the host transfer loop.run makes per chunk
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    return compile_s, statistics.median(times)


def measure(name: str, seeds: int, quick: bool, reps: int, split: bool = True) -> dict:
    """One row; ``split=False`` keeps all seeds on one device (``devices`` says how many ran them)."""
    e2e = end_to_end(ALGOS[name](quick), seeds, split)
    compile_s, warm = excluding_compile(ALGOS[name](quick), seeds, reps, split)
    sharding = _sharding(seeds, split)
    return {"algo": name, "seeds": seeds, "devices": 1 if sharding is None else len(sharding.device_set),
            "end_to_end_s": e2e, "compile_s": compile_s, "excluding_compile_s": warm,
            "end_to_end_s_per_seed": e2e / seeds, "excluding_compile_s_per_seed": warm / seeds}


def add_speedups(rows: list[dict]) -> None:
    for name in {r["algo"] for r in rows}:
        mine = [r for r in rows if r["algo"] == name]
        base = next((r for r in mine if r["seeds"] == 1), None)
        for r in mine:
            for key in ("end_to_end", "excluding_compile"):
                r[f"{key}_speedup"] = None if base is None else base[f"{key}_s_per_seed"] / r[f"{key}_s_per_seed"]


CPU_GOAL = (64, 0.4)  # per-seed cost at 64 seeds <= 0.4 x one seed's (CPU)
GPU_GOAL = (1024, 4.0)  # total cost of 1024 seeds <= 4 x one seed's (GPU)


def goals_of(rows: list[dict], backend: str, algo: str = "ppo") -> list[dict]:
    """The seed-scaling goal of ``backend`` (cpu or gpu) from PPO rows, excluding compilation.

    The goal judges the layout ``jaxil`` gives a run (seeds split over the local devices:
    on a CPU, one per core); a one-device row of the same seed count, when measured, is
    reported beside it as ``one_device_measured``."""
    mine = [r for r in rows if r["algo"] == algo]
    base = next((r for r in mine if r["seeds"] == 1), None)
    n, target = CPU_GOAL if backend == "cpu" else GPU_GOAL
    at_n = sorted((r for r in mine if r["seeds"] == n), key=lambda r: -r.get("devices", 1))

    def ratio(r):
        if base is None or r is None:
            return None
        if backend == "cpu":
            return r["excluding_compile_s_per_seed"] / base["excluding_compile_s_per_seed"]
        return r["excluding_compile_s"] / base["excluding_compile_s"]

    best = at_n[0] if at_n else None
    one = next((r for r in at_n if r.get("devices", 1) == 1), None)
    measured = ratio(best)
    if backend == "cpu":
        name = f"{algo.upper()} per-seed cost at {n} seeds / one seed's (CPU, excluding compilation)"
    else:
        name = f"{algo.upper()} cost of {n} seeds / one seed's (GPU, excluding compilation)"
    goal = {"name": name, "target": f"<= {target:g}", "measured": None if measured is None else round(measured, 4),
            "met": measured is not None and measured <= target}
    if best is not None:
        goal["devices"] = best.get("devices", 1)
    if one is not None and one is not best:
        goal["one_device_measured"] = round(ratio(one), 4)
    return [goal]


def run(names=("ppo",), seeds=(1, 8, 64, 256), quick: bool = True, reps: int = 1, log=print,
        one_device_too: bool = True) -> list[dict]:
    """Rows for every algorithm and seed count, with speedups. Where a row's seeds are
    split over several devices and ``one_device_too``, the same seeds on one device are
    measured beside it (``devices: 1``) for the goal's seed count."""
    rows = []
    for name in names:
        for n in seeds:
            splits = [True]
            if one_device_too and n == CPU_GOAL[0] and loop.run_sharding(n) is not None:
                splits.append(False)
            for split in splits:
                rows.append(measure(name, n, quick, reps, split))
                r = rows[-1]
                log(f"{name:4s} {n:4d} seeds on {r['devices']} device(s): end to end {r['end_to_end_s']:7.2f}s, "
                    f"compile {r['compile_s']:5.2f}s, excluding compile {r['excluding_compile_s']:7.2f}s "
                    f"({r['excluding_compile_s_per_seed']:.4f}s/seed)")
    add_speedups(rows)
    return rows


def device_scaling(name: str, seeds: int, device_counts, quick: bool = True, reps: int = 1, log=print) -> list[dict]:
    """Per-seed time (excluding compilation) of ``seeds`` runs split over 1, 2, ... devices.

    With ``d`` devices, each of the first ``d`` devices trains ``seeds / d`` runs in its
    own copy of the vmapped program (data parallel: runs never communicate, so no
    collectives); the chunks are dispatched to all devices before any result is read.
    On a CPU, start the process with ``--xla_force_host_platform_device_count=N`` in
    ``XLA_FLAGS`` to get N host devices.
    """
    rows = []
    for d in device_counts:
        if d > len(jax.devices()) or seeds % d:
            continue
        setup = ALGOS[name](quick)
        devices = jax.devices()[:d]
        keys = jax.random.split(jax.random.PRNGKey(0), seeds).reshape(d, seeds // d, -1)
        hp = loop.broadcast_hparams(setup.hparams, seeds)
        parts = [jax.device_put((keys[i], jax.tree.map(lambda x: x.reshape(d, -1, *x.shape[1:])[i], hp),
                                 setup.demos), dev) for i, dev in enumerate(devices)]
        init = jax.jit(jax.vmap(setup.trainer.init, in_axes=(0, None, 0)))
        chunk = loop.compile_chunk(setup.trainer, setup.chunk_steps)

        def train():
            states = [init(k, dm, h) for k, h, dm in parts]
            for _ in range(setup.num_steps // setup.chunk_steps):
                outs = [chunk(st, dm, h) for st, (_, h, dm) in zip(states, parts)]  # dispatched to all devices
                states = [o[0] for o in outs]
                for o in outs:
                    jax.tree.map(np.asarray, o[1])  # the host transfer loop.run makes per chunk
            return jax.block_until_ready(states)

        start = time.perf_counter()
        train()  # compiles for every device, then runs once
        first_s = time.perf_counter() - start
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            train()
            times.append(time.perf_counter() - start)
        t = statistics.median(times)
        rows.append({"algo": name, "seeds": seeds, "devices": d, "first_call_s": first_s, "excluding_compile_s": t,
                     "excluding_compile_s_per_seed": t / seeds})
        log(f"{name} {seeds} seeds on {d} device(s): {t:.2f}s excluding compile ({t / seeds:.4f}s/seed)")
    base = next((r for r in rows if r["devices"] == 1), None)
    for r in rows:
        r["speedup_vs_1_device"] = None if base is None else base["excluding_compile_s"] / r["excluding_compile_s"]
    return rows


def write_report(rows: list[dict], meta: dict, out_dir: str) -> str:
    stem = report.result_stem(out_dir, "seed_scaling", meta["date"], "quick" if meta["quick"] else "",
                               device=meta["device"])
    report.save_json(stem, {"meta": meta, "rows": rows}, indent=2)
    fmt = lambda x, spec: "-" if x is None else format(x, spec)
    lines = [f"# Seed scaling ({meta['device']}, {meta['cpu_count']} CPU cores, jax {meta['jax']}"
             f"{', quick' if meta['quick'] else ''}, {meta['date']})", "",
             "All seeds of a row in one `jit(vmap(scan))` program via `jaxil.loop.run`, split over `devices` "
             f"devices (loop.run's layout; {meta.get('cpu_devices', 1)} CPU device(s) in this process, "
             "`jaxil.set_cpu_device_count`), or on one device in the extra `devices = 1` row. End to end: a fresh run "
             "including tracing and compilation. Excluding compilation: the same work with the programs compiled "
             f"ahead of time, median of {meta['reps']}. Speedup = per-seed time at 1 seed / per-seed time at N seeds. "
             f"1-minute load average at the end: {meta['load_avg_1m_at_end']:.1f}.", ""]
    for name, desc in meta["algos"].items():
        lines += [f"## {name}", "", desc, "",
                  "| seeds | devices | end to end s | per seed s | speedup | compile s | excl. compile s | per seed s | "
                  "speedup |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["algo"] == name):
            lines.append(f"| {r['seeds']} | {r.get('devices', 1)} | {r['end_to_end_s']:.2f} | {r['end_to_end_s_per_seed']:.4f} | "
                         f"{fmt(r['end_to_end_speedup'], '.1f')}x | {r['compile_s']:.2f} | "
                         f"{r['excluding_compile_s']:.2f} | {r['excluding_compile_s_per_seed']:.4f} | "
                         f"{fmt(r['excluding_compile_speedup'], '.1f')}x |")
        lines.append("")
    report.save_markdown(stem, "\n".join(lines))
    return stem


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer trainer steps (PPO, GAIL 16, BC 20) and 1 rep")
    p.add_argument("--seeds", default="1,8,64,256")
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--devices", default="",
                   help="comma-separated device counts: shard the last --seeds count over that many devices instead")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="CPU devices for this process (jaxil.set_cpu_device_count; default: one per core)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    cpu_devices = jaxil.set_cpu_device_count(args.cpu_devices or None)  # before the first computation
    names = [a for a in args.algos.split(",") if a]
    unknown = sorted(set(names) - set(ALGOS))
    if unknown:
        raise SystemExit(f"unknown algorithms {unknown}; known: {sorted(ALGOS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    reps = args.reps or (1 if args.quick else 3)
    if args.devices:  # per-seed cost vs number of devices, written as JSON only
        rows = device_scaling(names[0], seeds[-1], [int(d) for d in args.devices.split(",")], args.quick, reps,
                              log=lambda m: print(m, flush=True))
        device = device_name()
        stem = report.result_stem(args.out, "device_scaling", datetime.date.today().isoformat(), device=device)
        report.save_json(stem, {"device": device, "num_devices": len(jax.devices()), "rows": rows}, indent=2)
        print("wrote", stem + ".json")
        return
    rows = run(names, seeds, args.quick, reps, log=lambda m: print(m, flush=True))
    meta = {"device": device_name(), "backend": jax.default_backend(), "jax": jax.__version__,
            "jaxil": jaxil.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "date": datetime.date.today().isoformat(), "quick": args.quick, "reps": reps, "seeds": seeds,
            "cpu_devices": cpu_devices if jax.default_backend() == "cpu" else None,
            "load_avg_1m_at_end": os.getloadavg()[0],  # other work sharing the machine skews the timings
            "algos": {n: ALGOS[n](args.quick).description for n in names}}
    print("wrote", write_report(rows, meta, args.out))


if __name__ == "__main__":
    main()
