"""BC gradient steps per second: jaxil at 1, 8, 64 vmapped seeds vs the `imitation` library.

    python -m benchmarks.bc_throughput [--seeds 1,8,64] [--updates 2000] [--reps 3]

Both sides train the same policy (MLP 32-32, tanh, categorical head) on the same
cartpole demonstrations (the shipped 10 trajectories) with batch size 32 and Adam:
``imitation.algorithms.bc.BC`` (PyTorch, installed by the ``peers`` extra after a
CPU ``torch``) for ``--updates`` batches, and jaxil's BC for the same number of
updates per seed, all seeds in one ``jit(vmap(scan))`` program. jaxil's compile
time is reported separately and the timed calls are the warm ones; the
`imitation` side has no compilation. Per-seed ratio = imitation's seconds per
update / (jaxil's seconds per update / seeds). Writes
``benchmarks/results/bc_throughput-<date>-<device>.{json,md}``.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import datetime
import os
import platform
import statistics
import time

import jax
import numpy as np

from jaxil import data, envs, experts, loop
from jaxil.algos import bc
from benchmarks import report

HERE = os.path.dirname(os.path.abspath(__file__))
HIDDEN, BATCH, TRAJ = (32, 32), 32, 10


def _demos():
    env = envs.make("cartpole")
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), env)
    return env, data.select_trajectories(d, TRAJ)


def time_jaxil(env, demos, seeds: int, updates: int, reps: int, split: bool = True) -> dict:
    """``split``: the seeds laid out as ``jaxil.loop.run`` lays out a run (split over the
    local devices; on a CPU, one per core); else all on one device."""
    config = bc.Config(hidden=HIDDEN, batch_size=BATCH, updates_per_step=updates, normalize_obs=False)
    trainer = bc.make_train(config, env)
    sharding = loop.run_sharding(seeds) if split else None
    keys, hp, demos = loop.place_runs(sharding, jax.random.split(jax.random.PRNGKey(0), seeds),
                                      loop.broadcast_hparams(bc.Hparams(lr=1e-3), seeds), data.to_jax(demos))
    state = loop.init_runs(trainer, sharding)(keys, demos, hp)
    chunk = loop.compile_chunk(trainer, 1)
    start = time.perf_counter()
    compiled = chunk.lower(state, demos, hp).compile()
    compile_s = time.perf_counter() - start
    state, _ = compiled(state, demos, hp)  # warm-up
    jax.block_until_ready(state)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        state, metrics = compiled(state, demos, hp)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    t = statistics.median(times)
    return {"seeds": seeds, "devices": 1 if sharding is None else len(sharding.device_set), "compile_s": compile_s,
            "s_per_update_all_seeds": t / updates,
            "updates_per_s_per_seed": updates / t, "updates_per_s_total": seeds * updates / t,
            "final_loss": float(np.mean(metrics["loss"]))}


def time_imitation(env, demos, updates: int, reps: int) -> dict | None:
    try:
        import gymnasium as gym
        import torch
        from imitation.algorithms import bc as ibc
        from imitation.data import types as itypes
        from stable_baselines3.common import policies as sb3_policies
    except ImportError as e:
        return {"skipped": f"imitation library not installed ({e.name}); pip install torch==2.13.0 && "
                           f"pip install -e '.[peers]'"}
    torch.set_num_threads(os.cpu_count() or 1)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (env.spec.obs_size,), np.float32)
    act_space = gym.spaces.Discrete(env.spec.action_size)
    n = demos.obs.shape[0]
    transitions = itypes.Transitions(obs=np.asarray(demos.obs), acts=np.asarray(demos.action),
                                     infos=np.array([{}] * n), next_obs=np.asarray(demos.next_obs),
                                     dones=np.asarray(demos.terminated | demos.truncated))
    policy = sb3_policies.ActorCriticPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=list(HIDDEN),
                                            activation_fn=torch.nn.Tanh)
    trainer = ibc.BC(observation_space=obs_space, action_space=act_space, rng=np.random.default_rng(0),
                     policy=policy, demonstrations=transitions, batch_size=BATCH,
                     optimizer_kwargs={"lr": 1e-3})
    trainer.train(n_batches=50, log_interval=10**9)  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        trainer.train(n_batches=updates, log_interval=10**9, progress_bar=False)
        times.append(time.perf_counter() - start)
    t = statistics.median(times)
    import imitation

    return {"version": imitation.__version__, "torch": torch.__version__, "s_per_update": t / updates,
            "updates_per_s": updates / t}


GOAL_SEEDS, GOAL_TARGET = 64, 100.0


def run(seeds=(1, 8, 64), updates: int = 2000, reps: int = 3) -> dict:
    """jaxil rows at every seed count, the imitation library's row and the per-seed goal."""
    env, demos = _demos()
    rows = []
    for s in seeds:
        rows.append(time_jaxil(env, demos, int(s), updates, reps))
        if int(s) == GOAL_SEEDS and rows[-1]["devices"] > 1:  # the same seeds on one device, beside it
            rows.append(time_jaxil(env, demos, int(s), updates, reps, split=False))
    peer = time_imitation(env, demos, updates, reps)
    if peer and "s_per_update" in peer:
        for r in rows:
            r["per_seed_speedup_vs_imitation"] = peer["s_per_update"] / (r["s_per_update_all_seeds"] / r["seeds"])
    at_goal = [r for r in rows if r["seeds"] == GOAL_SEEDS]  # the layout loop.run gives first
    measured = at_goal[0].get("per_seed_speedup_vs_imitation") if at_goal else None
    goal = {"name": f"BC per-seed speedup vs imitation at {GOAL_SEEDS} seeds", "target": GOAL_TARGET,
            "measured": measured, "met": measured is not None and measured >= GOAL_TARGET,
            "devices": at_goal[0]["devices"] if at_goal else None,
            "one_device_measured": next((r.get("per_seed_speedup_vs_imitation") for r in at_goal[1:]), None)}
    return {"hidden": HIDDEN, "batch_size": BATCH, "updates": updates, "reps": reps, "jaxil": rows, "imitation": peer,
            "goal": goal}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="1,8,64")
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args()
    jaxil.set_cpu_device_count()  # before the first computation: every CPU core a device, as the jaxil command
    out = run([int(s) for s in args.seeds.split(",")], args.updates, args.reps)
    rows, peer, goal = out["jaxil"], out["imitation"], out["goal"]
    device = report.device_name()
    date = datetime.date.today().isoformat()
    result = {"benchmark": "bc_throughput", "date": date, "device": device, "cpu_count": os.cpu_count(),
              "platform": platform.platform(), "jax": jax.__version__, "hidden": HIDDEN, "batch_size": BATCH,
              "updates": args.updates, "jaxil": rows, "imitation": peer, "goal": goal}
    stem = report.result_stem(args.out, "bc_throughput", date, device=device)
    report.save_json(stem, result)
    lines = [f"# BC gradient steps/s ({date}, {device}, {os.cpu_count()} cores)", "",
             f"MLP {HIDDEN}, batch {BATCH}, {args.updates} updates per seed, median of {args.reps}.", "",
             "| seeds | devices | compile s | updates/s per seed | updates/s total | per-seed speedup vs imitation |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        speed = r.get("per_seed_speedup_vs_imitation")
        lines.append(f"| {r['seeds']} | {r.get('devices', 1)} | {r['compile_s']:.2f} | {r['updates_per_s_per_seed']:.0f} | "
                     f"{r['updates_per_s_total']:.0f} | {'n/a' if speed is None else f'{speed:.1f}x'} |")
    if peer and "updates_per_s" in peer:
        lines += ["", f"imitation {peer['version']} (torch {peer['torch']}): {peer['updates_per_s']:.0f} updates/s."]
    elif peer:
        lines += ["", f"imitation: {peer['skipped']}"]
    lines += ["", f"Goal: >= {GOAL_TARGET:.0f}x per seed at {GOAL_SEEDS} seeds: measured {goal['measured']}, "
                  f"met: {goal['met']}."]
    print(report.save_markdown(stem, "\n".join(lines)))


if __name__ == "__main__":
    main()
