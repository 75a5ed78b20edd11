"""Compile time of every algorithm's train step, apart from its run time.

    python -m benchmarks.compile_time [--algos ppo,bc,dagger,gail,airl,valuedice,sac] [--seeds 1,16]
    python -m benchmarks.compile_time --compare-flags="--xla_backend_optimization_level=1 ..."

For each algorithm the program :func:`jaxil.loop.run` executes per chunk,
``jit(vmap(scan(step)))`` over seeds, is built ahead of time in two timed stages:

- ``trace_s``: tracing the Python step function and lowering it to StableHLO
  (``jitted.lower(...)``), the part that grows with Python-side complexity;
- ``compile_s``: XLA's compilation of that module (``lowered.compile()``);

then the compiled program is called once (``first_run_s``, which still pays for
first-call allocations) and again (``run_s``, warm). ``run_s`` is what a chunk costs
once compiled; ``trace_s + compile_s`` is paid once per process and program shape
(a new number of seeds, chunk length or Config is a new program; new Hparams values
or demo contents are not).

``--compare-flags FLAGS`` measures the same programs twice, side by side in one
invocation: in a fresh process with XLA's settings as ``jaxil`` leaves them, and in
another with ``FLAGS`` added to ``XLA_FLAGS`` (compiler flags are read once per
process). The report then gives both and their ratios; ``tests/conftest.py``'s
compiler settings for the test suite were chosen with it.

Setups are those of :mod:`benchmarks.loop_efficiency` (the defaults of
``jaxil train ALGO --env cartpole``), plus BC on cartpole and SAC on pendulum.
Writes ``benchmarks/results/compile_time-<date>-<device>[-flags].{json,md}`` when run alone.
"""

from __future__ import annotations

import jaxil  # noqa: F401  (first: sets jaxil's XLA CPU flags before the backend starts)

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import jax

from benchmarks import report
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))


def compile_timed(jitted, *args):
    """``(compiled, {"trace_s", "compile_s"})`` for a ``jax.jit`` function at ``args``."""
    start = time.perf_counter()
    lowered = jitted.lower(*args)
    traced = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()
    return compiled, {"trace_s": traced - start, "compile_s": done - traced}


def _extra_setups():
    """BC (cartpole) and SAC (pendulum), in loop_efficiency's Setup shape."""
    from jaxil import envs, experts, runs
    from jaxil.algos import bc

    from benchmarks.loop_efficiency import Setup

    def bc_setup(env_name="cartpole"):
        env = envs.make(env_name)
        c = bc.Config()
        demos = runs.load_task_demos(env_name, env, 10)[0]
        return Setup("bc", bc.make_train(c, env), bc.Hparams(), demos, 0, 1,
                     f"BC: {c.updates_per_step} updates of {c.batch_size} per step, MLP {c.hidden}")

    def sac_setup(env_name="pendulum"):
        rec = experts.recipe(env_name)
        return Setup("sac", experts.make_trainer(rec, envs.make(env_name)), rec.hparams, None,
                     rec.config.num_envs, 16, f"SAC pendulum recipe: {rec.config.num_envs} envs, MLP {rec.config.hidden}")

    return {"bc": bc_setup, "sac": sac_setup}


ENVS = {"sac": "pendulum"}  # everything else on cartpole


def measure(setup, seeds: int) -> dict:
    from jaxil import loop

    trainer, demos = setup.trainer, setup.demos
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    hp = loop.broadcast_hparams(setup.hparams, seeds)
    init, init_t = compile_timed(jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0))), keys, demos, hp)
    state = jax.block_until_ready(init(keys, demos, hp))
    chunk, chunk_t = compile_timed(loop.compile_chunk(trainer, setup.chunk_steps), state, demos, hp)
    runs_s = []
    for _ in range(2):
        start = time.perf_counter()
        state = jax.block_until_ready(chunk(state, demos, hp)[0])
        runs_s.append(time.perf_counter() - start)
    return {"algo": setup.algo, "env": trainer.policy_spec.env.name, "seeds": seeds,
            "chunk_steps": setup.chunk_steps, "init": init_t, **chunk_t,
            "first_run_s": runs_s[0], "run_s": runs_s[1], "description": setup.description}


def row_from_loop_efficiency(row: dict) -> dict:
    """The compile-time row of a :func:`benchmarks.loop_efficiency.measure` row (same programs)."""
    c = row["compile"]
    return {"algo": row["algo"], "env": row["env"], "seeds": row["seeds"], "chunk_steps": row["chunk_steps"],
            "init": c["init"], **c["chunk"], "run_s": row["env_steps_per_call"] / row["loop_steps_per_s"],
            "description": row["description"]}


def run_all(algos, seeds=(1,), log=print) -> list[dict]:
    from benchmarks import loop_efficiency as le

    setups = {**le.SETUPS, **_extra_setups()}
    rows = []
    for algo in algos:
        for n in seeds:
            why = le.available(algo)
            if why:
                rows.append({"algo": algo, "seeds": n, "skipped": why})
                continue
            rows.append(measure(setups[algo](ENVS.get(algo, "cartpole")), n))
            r = rows[-1]
            log(f"compile {algo:9s} {n:4d} seeds: trace {r['trace_s']:5.2f}s, XLA compile {r['compile_s']:5.2f}s, "
                f"warm chunk {r['run_s']:.3f}s")
    return rows


def markdown(rows: list[dict]) -> list[str]:
    lines = ["| algorithm | env | seeds | trainer steps per chunk | trace + lower s | XLA compile s | "
             "init compile s | warm chunk run s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['algo']} | - | {r['seeds']} | - | - | - | - | not measured: {r['skipped']} |")
            continue
        init = r["init"]["trace_s"] + r["init"]["compile_s"]
        lines.append(f"| {r['algo']} | {r['env']} | {r['seeds']} | {r['chunk_steps']} | {r['trace_s']:.2f} | "
                     f"{r['compile_s']:.2f} | {init:.2f} | {r['run_s']:.3f} |")
    return lines


def _measure_in_process(algos: str, seeds: str, extra_flags: str) -> list[dict]:
    """The rows of ``run_all`` measured in a fresh process with ``extra_flags`` added to XLA_FLAGS."""
    env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {extra_flags}".strip())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.json")
        subprocess.run([sys.executable, "-m", "benchmarks.compile_time", "--algos", algos, "--seeds", seeds,
                        "--rows-to", path], env=env, check=True)
        with open(path) as f:
            return json.load(f)


def compare_markdown(flags: str, default: list[dict], other: list[dict]) -> list[str]:
    """Per program: init + chunk compile and warm chunk time under both settings, and their ratios."""
    lines = [f"Flags compared with XLA's settings as jaxil leaves them: `{flags}`.", "",
             "| algorithm | env | seeds | compile s (init + chunk), default | with flags | ratio | "
             "warm chunk s, default | with flags | ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    total = lambda r: r["init"]["trace_s"] + r["init"]["compile_s"] + r["trace_s"] + r["compile_s"]
    for a, b in zip(default, other):
        if "skipped" in a or "skipped" in b:
            lines.append(f"| {a['algo']} | - | {a['seeds']} | not measured: {a.get('skipped') or b.get('skipped')} "
                         "| | | | | |")
            continue
        lines.append(f"| {a['algo']} | {a['env']} | {a['seeds']} | {total(a):.2f} | {total(b):.2f} | "
                     f"{total(b) / total(a):.2f} | {a['run_s']:.3f} | {b['run_s']:.3f} | {b['run_s'] / a['run_s']:.2f} |")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default="ppo,bc,dagger,gail,airl,valuedice,sac")
    p.add_argument("--seeds", default="1")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--compare-flags", default=None,
                   help="XLA flags to compare with XLA's defaults, each setting measured in its own process "
                        "(give them as --compare-flags=\"...\": a value that starts with -- is read as an option)")
    p.add_argument("--rows-to", default=None, help=argparse.SUPPRESS)  # a --compare-flags child's output
    args = p.parse_args(argv)
    algos, seeds = [a for a in args.algos.split(",") if a], [int(s) for s in args.seeds.split(",")]
    if args.rows_to:
        rows = run_all(algos, seeds)
        with open(args.rows_to, "w") as f:
            json.dump(rows, f)
        return
    date, device = datetime.date.today().isoformat(), device_name()
    record = {"benchmark": "compile_time", "date": date, "device": device, "jax": jax.__version__}
    if args.compare_flags:
        default = _measure_in_process(args.algos, args.seeds, "")
        other = _measure_in_process(args.algos, args.seeds, args.compare_flags)
        stem = report.result_stem(args.out, "compile_time", date, "flags", device=device)
        record.update(flags=args.compare_flags, rows_default=default, rows_flags=other)
        report.save_json(stem, record)
        lines = [f"# Compile time per algorithm, with and without XLA flags ({date}, {device}, jax {jax.__version__})",
                 "", *compare_markdown(args.compare_flags, default, other)]
    else:
        rows = run_all(algos, seeds)
        stem = report.result_stem(args.out, "compile_time", date, device=device)
        record.update(rows=rows)
        report.save_json(stem, record)
        lines = [f"# Compile time per algorithm ({date}, {device}, jax {jax.__version__})", "", *markdown(rows)]
    print(report.save_markdown(stem, "\n".join(lines)))
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
