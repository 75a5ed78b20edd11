"""Loop efficiency: env steps/s of a full training loop as a fraction of a bare rollout.

    python -m benchmarks.loop_efficiency [--algos ppo,gail,airl,dagger,valuedice] [--seeds 16] [--reps 3]

For every algorithm, two programs run the same number of parallel envs
(``seeds x num_envs``, where ``num_envs`` is the algorithm's own number of envs per
run) of the same env (cartpole by default):

- ``loop``: the chunk program of :func:`jaxil.loop.run` (``jit(vmap(scan(step)))``
  over seeds, ``chunk_steps`` trainer steps), compiled ahead of time: rollouts,
  reward learning, policy updates, everything the algorithm does per step;
- ``bare``: ``jit(vmap(scan(policy forward + env.step)))``: the same env through
  ``jaxil.envs.make`` (wrapper cost is measured by ``env_throughput``, not here),
  actions sampled from a policy network of the trainer's own spec (kind, hidden
  sizes, activation) with the parameters of the trainer's initial state, and as many
  env steps per call as one ``loop`` call.

Efficiency = loop env steps/s / bare env steps/s: the share of a rollout's speed
that the loop keeps while it also learns. Both programs are compiled first (trace
and XLA compile times are reported, see :mod:`benchmarks.compile_time`), then timed
in interleaved repetitions (median). Compile time is never in the rates.

Setups are the ones ``jaxil train ALGO --env cartpole`` uses (PPO: the cartpole
expert recipe), except where a field only changes work outside the timed step:
DAgger's round-0 BC (``initial_updates``, in ``init``) is shortened. ValueDICE
is measured only where ``jaxil.algos.valuedice`` exists. Writes
``benchmarks/results/loop_efficiency-<date>-<device>.{json,md}`` when run alone.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import dataclasses
import datetime
import importlib
import importlib.util
import math
import os
import statistics
import time
from typing import Any, Callable, NamedTuple

import jax

from jaxil import envs, experts, loop, policy as pol, runs

from benchmarks import compile_time, report

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = 0.5
GOAL_ALGOS = ("ppo", "gail")  # the algorithms with a stated >= 50% goal


class Setup(NamedTuple):
    algo: str
    trainer: loop.Trainer
    hparams: Any
    demos: Any  # None for RL
    num_envs: int  # parallel envs per run
    chunk_steps: int  # trainer steps per timed call
    description: str


def _demos(env, num_trajectories: int):
    return runs.load_task_demos(env.spec.name, env, num_trajectories)[0]


def ppo_setup(env_name: str) -> Setup:
    rec = experts.recipe(env_name)
    env = envs.make(env_name)
    c = rec.config
    return Setup("ppo", experts.make_trainer(rec, env), rec.hparams, None, c.num_envs, 4,
                 f"PPO expert recipe: {c.num_envs} envs x {c.num_steps} steps, {c.update_epochs} epochs x "
                 f"{c.num_minibatches} minibatches, MLP {c.hidden}")


def _adversarial(algo: str, env_name: str) -> Setup:
    env = envs.make(env_name)
    trainer, config, hparams, _, _ = runs.build_trainer(algo, env)
    c = config.ppo
    return Setup(algo, trainer, hparams, _demos(env, 1), c.num_envs, 4,
                 f"{algo.upper()} (`jaxil train {algo}` defaults): PPO {c.num_envs} envs x {c.num_steps} steps, "
                 f"{config.disc_updates} discriminator updates of {config.disc_batch} per iteration, 1 trajectory")


def gail_setup(env_name: str) -> Setup:
    return _adversarial("gail", env_name)


def airl_setup(env_name: str) -> Setup:
    return _adversarial("airl", env_name)


def dagger_setup(env_name: str) -> Setup:
    from jaxil.algos import dagger

    env = envs.make(env_name)
    config = dataclasses.replace(dagger.Config(), initial_updates=10)  # round 0 runs in init: not timed
    trainer = runs.build_trainer("dagger", env, config=config)[0]
    steps = config.rollout_steps or env.spec.max_episode_steps
    return Setup("dagger", trainer, dagger.Hparams(), _demos(env, 10), config.num_envs, 1,
                 f"DAgger: {config.num_envs} envs x {steps} steps with the shipped expert labelling, "
                 f"{config.updates_per_round} BC updates of {config.batch_size} per round, MLP {config.hidden}")


def valuedice_setup(env_name: str) -> Setup:
    vd = importlib.import_module("jaxil.algos.valuedice")
    env = envs.make(env_name)
    config = vd.Config()
    return Setup("valuedice", vd.make_train(config, env), vd.Hparams(), _demos(env, 10), config.num_envs, 16,
                 f"ValueDICE (paper defaults): {config.num_envs} env x {config.train_freq} step and "
                 f"{config.num_updates} update of {config.batch_size} per trainer step, MLP {config.hidden}")


SETUPS: dict[str, Callable[[str], Setup]] = {
    "ppo": ppo_setup, "gail": gail_setup, "airl": airl_setup, "dagger": dagger_setup, "valuedice": valuedice_setup,
}


def available(algo: str) -> str | None:
    """None when ``algo`` can be measured here, else why not."""
    if algo == "valuedice" and importlib.util.find_spec("jaxil.algos.valuedice") is None:
        return "jaxil.algos.valuedice is not part of this install"
    return None


# ---- the two programs ------------------------------------------------------------


def bare_rollout(env, spec: pol.PolicySpec, params, seeds: int, num_envs: int, steps: int):
    """``(state, run)``: ``run(state, key) -> state`` advances ``seeds x num_envs`` envs
    by ``steps`` steps, each run's envs acting with that run's ``params``."""
    step_envs = jax.vmap(env.step)

    def one_run(p, state, key):
        def body(s, k):
            action, _ = pol.sample(spec, p, s.obs, k)
            return step_envs(s, action), None

        return jax.lax.scan(body, state, jax.random.split(key, steps))[0]

    @jax.jit
    def run(state, key):
        return jax.vmap(one_run)(params, state, jax.random.split(key, seeds))

    reset = jax.jit(jax.vmap(jax.vmap(env.reset)))
    keys = jax.random.split(jax.random.PRNGKey(1), seeds * num_envs).reshape(seeds, num_envs, -1)
    return reset(keys), run


def _timed(fn, state, calls: int):
    start = time.perf_counter()
    for i in range(calls):
        state = fn(state, i)
    state = jax.block_until_ready(state)
    return state, (time.perf_counter() - start) / calls


def measure(setup: Setup, seeds: int, reps: int = 3, min_rep_s: float = 0.2) -> dict:
    """Compiles the loop's chunk and a matched bare rollout, then times both interleaved."""
    trainer, demos = setup.trainer, setup.demos
    env = envs.make(trainer.policy_spec.env.name, **dict(trainer.policy_spec.env.options or {}))
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    hp = loop.broadcast_hparams(setup.hparams, seeds)
    init, init_times = compile_time.compile_timed(jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0))),
                                                  keys, demos, hp)
    state = jax.block_until_ready(init(keys, demos, hp))
    chunk, chunk_times = compile_time.compile_timed(loop.compile_chunk(trainer, setup.chunk_steps), state, demos, hp)
    env_steps = setup.chunk_steps * trainer.env_steps_per_step  # per run per call
    per_env = env_steps // setup.num_envs
    params = jax.vmap(trainer.policy)(state)
    bare_state, bare_run = bare_rollout(env, trainer.policy_spec, params, seeds, setup.num_envs, per_env)
    key = jax.random.PRNGKey(2)
    bare, bare_times = compile_time.compile_timed(bare_run, bare_state, key)

    fns = {"loop": lambda s, i: chunk(s, demos, hp)[0],
           "bare": lambda s, i: bare(s, jax.random.fold_in(key, i))}
    states = {"loop": state, "bare": bare_state}
    calls = {}
    for mode, fn in fns.items():  # warm-up, and how many calls make one repetition
        states[mode], t = _timed(fn, states[mode], 1)
        calls[mode] = max(1, math.ceil(min_rep_s / max(t, 1e-6)))
    times = {m: [] for m in fns}
    for r in range(reps):  # interleaved, so drift on a shared machine hits both alike
        for mode in (("loop", "bare") if r % 2 == 0 else ("bare", "loop")):
            states[mode], t = _timed(fns[mode], states[mode], calls[mode])
            times[mode].append(t)
    total_steps = seeds * env_steps
    rates = {m: total_steps / statistics.median(ts) for m, ts in times.items()}
    return {
        "algo": setup.algo, "env": env.spec.name, "seeds": seeds, "num_envs": setup.num_envs,
        "batch": seeds * setup.num_envs, "chunk_steps": setup.chunk_steps, "env_steps_per_call": total_steps,
        "policy": {"kind": trainer.policy_spec.kind, "hidden": list(trainer.policy_spec.hidden),
                   "activation": trainer.policy_spec.act},
        "loop_steps_per_s": rates["loop"], "bare_steps_per_s": rates["bare"],
        "efficiency": rates["loop"] / rates["bare"],
        "loop_spread": _spread(times["loop"]), "bare_spread": _spread(times["bare"]),
        "reps": reps, "calls_per_rep": calls,
        "compile": {"init": init_times, "chunk": chunk_times, "bare": bare_times},
        "description": setup.description,
    }


def _spread(ts: list[float]) -> float:
    return (max(ts) - min(ts)) / statistics.median(ts)


def run_all(algos=tuple(SETUPS), env_name: str = "cartpole", seeds: int | dict = 16, reps: int = 3,
            min_rep_s: float = 0.2, log=print) -> dict:
    """Rows for every algorithm (a row with ``skipped`` where one cannot run) and the goals.

    ``seeds`` is one count for all, or ``{algo: count}`` (``"default"`` for the rest).
    """
    rows = []
    for algo in algos:
        n = seeds if isinstance(seeds, int) else seeds.get(algo, seeds.get("default", 16))
        why = available(algo)
        if why:
            rows.append({"algo": algo, "env": env_name, "seeds": n, "skipped": why})
            log(f"loop efficiency {algo}: skipped ({why})")
            continue
        row = measure(SETUPS[algo](env_name), n, reps, min_rep_s)
        rows.append(row)
        log(f"loop efficiency {algo:9s} {n:4d} seeds x {row['num_envs']} envs: loop {row['loop_steps_per_s']:11,.0f} "
            f"bare {row['bare_steps_per_s']:11,.0f} steps/s -> {100 * row['efficiency']:5.1f}% "
            f"(chunk compile {row['compile']['chunk']['compile_s']:.1f}s)")
    return {"rows": rows, "goals": goals_of(rows)}


def goals_of(rows: list[dict]) -> list[dict]:
    goals = []
    for algo in GOAL_ALGOS:
        row = next((r for r in rows if r["algo"] == algo), None)
        if row is None:
            continue
        measured = row.get("efficiency")
        goals.append({
            "name": f"loop efficiency {algo.upper()} ({row['env']}, {row['seeds']} seeds): full training loop env "
                    "steps/s / bare rollout's",
            "target": f">= {TARGET:.2f}", "measured": None if measured is None else round(measured, 4),
            "met": measured is not None and measured >= TARGET,
        })
    return goals


def markdown(rows: list[dict]) -> list[str]:
    lines = ["| env | algorithm | seeds x envs | loop env steps/s | bare rollout env steps/s | efficiency | policy |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['env']} | {r['algo']} | {r['seeds']} | - | - | not measured: {r['skipped']} | - |")
            continue
        p = r["policy"]
        lines.append(f"| {r['env']} | {r['algo']} | {r['seeds']} x {r['num_envs']} | {r['loop_steps_per_s']:,.0f} | "
                     f"{r['bare_steps_per_s']:,.0f} | {100 * r['efficiency']:.1f}% | {p['kind']} "
                     f"{tuple(p['hidden'])} {p['activation']} |")
    return lines


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default=",".join(SETUPS))
    p.add_argument("--env", default="cartpole")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--min-rep-s", type=float, default=0.2)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    algos = [a for a in args.algos.split(",") if a]
    unknown = sorted(set(algos) - set(SETUPS))
    if unknown:
        p.error(f"unknown algorithms {unknown}; known: {sorted(SETUPS)}")
    result = run_all(algos, args.env, args.seeds, args.reps, args.min_rep_s)
    date = datetime.date.today().isoformat()
    device = report.device_name()
    stem = report.result_stem(args.out, "loop_efficiency", date, device=device)
    report.save_json(stem, {"benchmark": "loop_efficiency", "date": date, "device": device, "jax": jax.__version__,
                            "cpu_count": os.cpu_count(), **result})
    lines = [f"# Loop efficiency ({date}, {device}, {os.cpu_count()} CPU cores)", "", *markdown(result["rows"]), ""]
    lines += [f"- {g['name']}: {g['measured']} (target {g['target']}, {'met' if g['met'] else 'NOT met'})"
              for g in result["goals"]]
    print(report.save_markdown(stem, "\n".join(lines)))
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
