"""Offline RL on mixed-quality data (IQL vs BC vs filtered BC), and SQIL from one trajectory.

    python -m benchmarks.offline_rl [--envs pendulum,cartpole] [--seeds 5] [--sqil-seeds 8] [--no-sqil] [--out DIR]

Offline part, per env: :func:`jaxil.data.mixed.build` collects 10 expert, 40 medium
(expert with random actions at the env's ``MEDIUM_EPS``) and 50 random episodes from
the shipped expert (key 0). IQL (default Config/Hparams: 256-256 networks, expectile
0.7, beta 3) trains ``--iql-steps`` x 100 updates per seed (default 3000 on pendulum,
1000 on cartpole); BC on all episodes and
filtered BC on the top 25% / 10% by return (64-64 Gaussian or categorical policy,
``--bc-steps`` x 50 updates) run as one vmapped program over ``top_fraction``.
Every seed's deterministic policy is evaluated on 16 episodes.

SQIL part (pendulum): 1 shipped expert trajectory, default SAC settings,
``--sqil-seeds`` seeds for 20k env steps, evaluated every 2k env steps; reports the
env steps at which the mean normalised score over seeds first reaches 0.9.

Scores are raw and normalised (:func:`jaxil.experts.normalize`: 0 random, 1 the
shipped expert), mean and worst seed. Writes
``<--out>/offline_rl-<date>-<device>[-<tag>].{json,md}`` (default ``benchmarks/results/``).
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import datetime
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import data, envs, experts, loop
from jaxil.algos import filtered_bc, iql, sqil
from jaxil.data import mixed
from jaxil.rl import sac
from benchmarks import report

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_FRACTIONS = {"bc_all": 1.0, "filtered_bc_25": 0.25, "filtered_bc_10": 0.10}


def scores(env_name: str, returns: np.ndarray) -> dict:
    """Mean and worst seed of per-seed mean returns ``[seeds]``, raw and normalised."""
    norm = experts.normalize(env_name, returns)
    return {"return_mean": float(returns.mean()), "return_worst": float(returns.min()),
            "normalized_mean": float(norm.mean()), "normalized_worst": float(norm.min()),
            "per_seed_normalized": [round(float(x), 3) for x in norm]}


def run_iql(env, env_name: str, demos, seeds: int, steps: int) -> dict:
    """IQL, ``seeds`` runs in one vmapped program."""
    config = iql.Config()
    trainer = iql.make_train(config, env)
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(1), seeds), iql.Hparams(), steps, demos=demos,
                   chunk_steps=max(1, steps // 5))
    returns = experts.evaluate_seeds(env, trainer, res.state, jax.random.PRNGKey(2), 16).mean(1)
    return {**scores(env_name, returns), "updates": steps * config.updates_per_step, "wall_s": res.wall_s}


def run_bc_family(env, env_name: str, demos, seeds: int, steps: int) -> dict:
    """BC on all data and filtered BC, ``seeds`` runs each, in one vmapped program."""
    config = filtered_bc.Config()
    trainer = filtered_bc.make_train(config, env)
    fractions = jnp.repeat(jnp.asarray(list(TOP_FRACTIONS.values()), jnp.float32), seeds)
    keys = jnp.tile(jax.random.split(jax.random.PRNGKey(1), seeds), (len(TOP_FRACTIONS), 1))
    res = loop.run(trainer, keys, filtered_bc.Hparams(top_fraction=fractions), steps, demos=demos)
    returns = experts.evaluate_seeds(env, trainer, res.state, jax.random.PRNGKey(2), 16).mean(1)
    out = {}
    for i, name in enumerate(TOP_FRACTIONS):
        out[name] = {**scores(env_name, returns[i * seeds:(i + 1) * seeds]),
                     "top_fraction": TOP_FRACTIONS[name], "updates": steps * config.bc.updates_per_step}
    out["wall_s_all_three"] = res.wall_s
    return out


IQL_STEPS = {"pendulum": 30, "cartpole": 10}
"""IQL trainer steps (of 100 updates) per env: cartpole's mixed data is solved after ~600 updates."""


def offline(env_name: str, seeds: int, iql_steps: int | None, bc_steps: int) -> dict:
    iql_steps = iql_steps or IQL_STEPS.get(env_name, 30)
    env = envs.make(env_name)
    mix = mixed.build(env_name, jax.random.PRNGKey(0))
    demos = data.to_jax(mix.demos)
    dataset = {"transitions": mix.demos.num_transitions, "medium_eps": mix.meta.extra["medium_eps"],
               "sources": mixed.summary(mix, env_name)}
    print(env_name, "dataset", json.dumps(dataset["sources"]["all"]), flush=True)
    result = {"dataset": dataset, "iql": run_iql(env, env_name, demos, seeds, iql_steps)}
    print(env_name, "iql", result["iql"]["normalized_mean"], result["iql"]["normalized_worst"], flush=True)
    result.update(run_bc_family(env, env_name, demos, seeds, bc_steps))
    return result


def run_sqil(seeds: int) -> dict:
    env = envs.make("pendulum")
    d, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    trainer = sqil.make_train(sqil.Config(), env)
    chunk = sac.PENDULUM_STEPS // 10
    curve = []

    def on_chunk(done, state, metrics):
        returns = experts.evaluate_seeds(env, trainer, state, jax.random.PRNGKey(done), 16).mean(1)
        curve.append({"env_steps": done * trainer.env_steps_per_step, **scores("pendulum", returns)})
        print("sqil", curve[-1]["env_steps"], curve[-1]["per_seed_normalized"], flush=True)

    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), seeds), sac.Hparams(), sac.PENDULUM_STEPS,
                   demos=data.to_jax(data.select_trajectories(d, 1)), chunk_steps=chunk, on_chunk=on_chunk)
    reached = [c["env_steps"] for c in curve if c["normalized_mean"] >= 0.9]
    return {"trajectories": 1, "seeds": seeds, "final": curve[-1], "best_mean": max(c["normalized_mean"] for c in curve),
            "env_steps_to_0.9_mean": reached[0] if reached else None, "curve": curve, "wall_s": res.wall_s}


def markdown(result: dict) -> str:
    lines = [f"# Offline RL on mixed data, and SQIL ({result['date']}, {result['device']})", "",
             "Normalised score: 0 random, 1 the shipped expert. Mean over seeds / worst seed.", ""]
    for env_name, r in result["offline"].items():
        ds = r["dataset"]["sources"]
        lines += [f"## {env_name} ({r['dataset']['transitions']} transitions: "
                  + ", ".join(f"{v['episodes']} {k}" for k, v in ds.items() if k != "all") + ")", "",
                  "| policy | return (mean / worst) | normalised (mean / worst) |", "| --- | --- | --- |",
                  f"| dataset episodes | {ds['all']['mean']:.1f} / {ds['all']['min']:.1f} | "
                  f"{ds['all']['normalized_mean']:.2f} / - |"]
        for name in ("iql", *TOP_FRACTIONS):
            s = r[name]
            lines.append(f"| {name} | {s['return_mean']:.1f} / {s['return_worst']:.1f} | "
                         f"{s['normalized_mean']:.2f} / {s['normalized_worst']:.2f} |")
        lines.append("")
    if "sqil" in result:
        s = result["sqil"]
        lines += [f"## SQIL, pendulum, 1 trajectory, {s['seeds']} seeds", "",
                  "| env steps | normalised mean | worst seed |", "| --- | --- | --- |"]
        lines += [f"| {c['env_steps']} | {c['normalized_mean']:.2f} | {c['normalized_worst']:.2f} |" for c in s["curve"]]
        lines += ["", f"Env steps to a mean of 0.9: {s['env_steps_to_0.9_mean']}", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", default="pendulum,cartpole")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--iql-steps", type=int, default=None, help="IQL trainer steps of 100 updates (default: IQL_STEPS)")
    p.add_argument("--bc-steps", type=int, default=40, help="BC trainer steps of 50 updates")
    p.add_argument("--sqil-seeds", type=int, default=8)
    p.add_argument("--no-sqil", action="store_true")
    p.add_argument("--tag", default="")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    start = time.perf_counter()
    result = {"date": datetime.date.today().isoformat(), "device": report.device_name(),
              "command": "python -m benchmarks.offline_rl " + " ".join(argv if argv is not None else []),
              "seeds": args.seeds, "offline": {}}
    for env_name in args.envs.split(","):
        if env_name:
            result["offline"][env_name] = offline(env_name, args.seeds, args.iql_steps, args.bc_steps)
    if not args.no_sqil:
        result["sqil"] = run_sqil(args.sqil_seeds)
    result["total_wall_s"] = time.perf_counter() - start
    stem = report.result_stem(args.out, "offline_rl", result["date"], args.tag, device=result["device"])
    report.save_json(stem, result, indent=2)
    print(report.save_markdown(stem, markdown(result)))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
