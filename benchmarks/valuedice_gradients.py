"""Where online ValueDICE's actor gradient comes from, on pendulum.

    python -m benchmarks.valuedice_gradients [--trajectories 1,16] [--env-steps 3000]

The actor ascends J (:func:`jaxil.algos.valuedice.dv_objective`), and J depends on the
policy only through its actions at three sets of states: the expert's next states
(the nonlinear term, weight about (1 - alpha) gamma), the replay next states (both
terms, weight alpha, with opposite signs) and the initial states (the linear term,
weight (1 - alpha)(1 - gamma)). Only the last two say anything about states the
demonstrations never visit, such as pendulum's hanging start. This script trains
online ValueDICE (the probe setting of the online ValueDICE rates probe in
``results/``: 64x64, nu lr 1e-4, actor lr 1e-3, penalty 0.1, 4 updates
per env step, initial states from env resets) and, after every 1000 env steps, splits
the actor's gradient of J into those three parts by giving each set of states its own
copy of the actor's parameters. Reported per part: the norm of the gradient averaged
over 32 batches, and its cosine with the sum of the parts.
"""

from __future__ import annotations

import jaxil  # noqa: F401  (first: sets jaxil's XLA CPU flags before the backend starts)

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import data, envs, experts, loop
from jaxil.algos import offpolicy as op, valuedice as vd
from benchmarks.report import device_name, result_stem, save_json, save_markdown

HERE = os.path.dirname(os.path.abspath(__file__))
PARTS = ("expert next states", "replay next states", "initial states")
BATCHES = 32


def setting():
    cfg = vd.Config(hidden=(64, 64), num_updates=4, learning_starts=400, buffer_size=20_000, initial_states="reset")
    return cfg, vd.Hparams(nu_lr=1e-4, actor_lr=1e-3, grad_penalty=0.1)


def gradient_parts(cfg: vd.Config, env, hp: vd.Hparams, demos: data.Demos):
    """``parts(state, key) -> [BATCHES, 3, P]``: the actor's gradient of J from each set of states.

    Each batch is drawn as the trainer draws an update's batches
    (:func:`jaxil.algos.offpolicy.batch_sampler`) and J is composed as the update composes
    it (:func:`jaxil.algos.valuedice.dv_terms`), with the same keys; only the actor's
    parameters are given three times over.
    """
    net = vd._nu_net(cfg)

    def one_batch(state: op.State, key):
        params = state.learner
        nu = lambda x: net.apply(params.nu, x)[..., 0]
        expert, replay, init_obs, k_u = op.batch_sampler(cfg, env, demos, state.interaction, False)(key)
        keys, _ = vd.update_keys(k_u)  # the penalty's key is not needed here

        def objective(*actors):
            pis = tuple({**params.actor, "actor": a} for a in actors)
            t = vd.dv_terms(cfg, env, nu, pis, expert, replay, init_obs, hp.gamma, keys)
            return vd.dv_objective(t.expert_diff, t.replay_diff, t.init_nu, hp.replay_reg, hp.gamma)

        actor = params.actor["actor"]
        grads = jax.grad(objective, (0, 1, 2))(actor, actor, actor)
        return jnp.stack([jnp.concatenate([x.ravel() for x in jax.tree.leaves(g)]) for g in grads])

    return jax.jit(lambda state, key: jax.vmap(one_batch, (None, 0))(state, jax.random.split(key, BATCHES)))


def summarise(g: np.ndarray) -> dict:
    mean = g.mean(0)  # [3, P]
    total = mean.sum(0)
    out = {}
    for i, name in enumerate(PARTS):
        norm = float(np.linalg.norm(mean[i]))
        cos = float(mean[i] @ total / (norm * np.linalg.norm(total) + 1e-30))
        out[name] = {"norm": norm, "cos_with_sum": cos}
    return out


def run(trajectories: int, env_steps: int, seed: int) -> dict:
    env = envs.make("pendulum")
    cfg, hp = setting()
    d, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    demos = data.to_jax(data.select_trajectories(d, trajectories))
    trainer = vd.make_train(cfg, env)
    parts = gradient_parts(cfg, env, hp, demos)
    points = []

    def on_chunk(done, state, metrics):
        one = jax.tree.map(lambda x: x[0], state)
        g = np.asarray(parts(one, jax.random.PRNGKey(done)))
        points.append({"env_steps": done * trainer.env_steps_per_step, **summarise(g)})
        print(f"  {trajectories} traj, {points[-1]['env_steps']} env steps: "
              + "  ".join(f"{k} {v['norm']:.2e} ({v['cos_with_sum']:+.2f})" for k, v in points[-1].items()
                          if k != "env_steps"), flush=True)

    loop.run(trainer, jax.random.PRNGKey(seed)[None], hp, env_steps, demos=demos, chunk_steps=1000,
             on_chunk=on_chunk)
    return {"trajectories": trajectories, "seed": seed, "points": points}


def report(rows: list[dict], meta: dict, command: str) -> str:
    lines = [f"# Where online ValueDICE's actor gradient comes from ({meta['device']}, jax {meta['jax']}, "
             f"{meta['date']})", "", __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), "",
             "| demos | env steps | " + " | ".join(f"{p}: norm (cos with sum)" for p in PARTS)
             + " | initial / expert |", "|---|---|" + "---|" * (len(PARTS) + 1)]
    for r in rows:
        for p in r["points"]:
            cells = [f"{p[name]['norm']:.2e} ({p[name]['cos_with_sum']:+.2f})" for name in PARTS]
            ratio = p[PARTS[2]]["norm"] / max(p[PARTS[0]]["norm"], 1e-30)
            lines.append(f"| {r['trajectories']} | {p['env_steps']} | " + " | ".join(cells) + f" | {ratio:.1e} |")
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trajectories", default="1,16", help="comma-separated demo counts (the first ones shipped)")
    p.add_argument("--env-steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    if args.env_steps < 1000 or args.env_steps % 1000:
        raise SystemExit(f"--env-steps must be a positive multiple of 1000, got {args.env_steps}")
    rows = [run(int(t), args.env_steps, args.seed) for t in args.trajectories.split(",")]
    meta = {"date": time.strftime("%Y-%m-%d"), "device": device_name(), "jax": jax.__version__}
    command = "python -m benchmarks.valuedice_gradients " + " ".join(argv if argv is not None else sys.argv[1:])
    stem = result_stem(args.out, "valuedice_gradients", meta["date"], device=meta["device"])
    save_json(stem, {"meta": meta, "command": command, "rows": rows})
    save_markdown(stem, report(rows, meta, command))
    print(f"wrote {stem}.json and .md")


if __name__ == "__main__":
    main()
