"""MCE IRL on cliff world: 1000 iterations per run, jaxil at 1 and 64 vmapped seeds vs `imitation`.

    python -m benchmarks.mce_irl [--seeds 1,64] [--iters 1000] [--reps 3] [--imitation-runs 3]

Both sides run Maximum Causal Entropy IRL on the ``imitation`` tutorial's cliff
world (7 x 4, horizon 8, fail_p 0.3, undiscounted) from the expert's exact state
occupancy (the MCE policy of the true reward), with Adam and no early stopping, for
two reward models:

* ``linear``: a linear reward on one-hot state observations (tabular), lr 0.1,
  random initial weights (so that the seeds' runs differ, as torch's do);
* ``mlp``: an MLP with one hidden layer of 256 ReLU units on the (x, y)
  observations, lr 0.01 (the tutorial's reward net).

``imitation.algorithms.mce_irl.MCEIRL`` (PyTorch reward net, NumPy planning) runs
one seed after another; its seconds per run are the median of ``--imitation-runs``
runs. jaxil runs ``--seeds`` seeds in one ``jit(vmap(scan))`` program
(:func:`jaxil.algos.maxent_irl.train`); its compile time is measured separately,
"first call" is compile + one run, and "warm" is the median of ``--reps`` calls of
the compiled program. Per-run speedup including compilation = imitation's seconds per
run / (jaxil's first-call seconds / seeds), the number the goal judges; warm speedup =
imitation's seconds per run / (jaxil's warm seconds / seeds), reported beside it. The
final L-inf distance between learner and expert occupancy is
reported for both sides as a check that they solve the same problem. Writes
``benchmarks/results/mce_irl-<date>-<device>[-<tag>].{json,md}``.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import datetime
import os
import platform
import statistics
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import loop
from jaxil.algos import maxent_irl as mi
from jaxil.envs import tabular as tb
from benchmarks import report

HERE = os.path.dirname(os.path.abspath(__file__))
WIDTH, HEIGHT, HORIZON = 7, 4, 8
MODELS = {
    # name: (jaxil features, jaxil config, learning rate, imitation obs, imitation hidden sizes)
    "linear": ("onehot", mi.Config(), 0.1, False, ()),
    "mlp": ("xy", mi.Config(reward_model="mlp", hidden=(256,), activation="relu"), 0.01, True, (256,)),
}


def _problem(features: str) -> mi.IRLData:
    mdp = tb.cliff_world(WIDTH, HEIGHT, horizon=HORIZON, features=features)
    expert = mi.mce_partition(mdp.transitions, mdp.reward, mdp.horizon, mdp.discount)[2]
    return mi.expert_data(mdp, expert)


def _final_linf(data: mi.IRLData, policy) -> float:
    _, occ = mi.mce_occupancy(data.mdp.transitions, data.mdp.initial, policy, discount=data.mdp.discount)
    return float(jnp.max(jnp.abs(occ - data.expert_occupancy)))


def time_jaxil(model: str, seeds: int, iters: int, reps: int, split: bool = True) -> dict:
    """``split``: the seeds laid out as ``jaxil.loop.run`` lays out a run (split over the
    local devices; on a CPU, one per core); else all on one device."""
    features, config, lr, _, _ = MODELS[model]
    data = _problem(features)
    hp = mi.Hparams(lr=lr, init_scale=1.0 / np.sqrt(data.mdp.n_features))
    sharding = loop.run_sharding(seeds) if split else None
    place = (lambda k: k) if sharding is None else partial(jax.device_put, device=sharding)  # noqa: E731
    keys = place(jax.random.split(jax.random.PRNGKey(0), seeds))
    fn = jax.jit(jax.vmap(partial(mi.train, config, num_steps=iters), in_axes=(0, None, None)))
    start = time.perf_counter()
    compiled = fn.lower(keys, data, hp).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    res = compiled(keys, data, hp)
    jax.block_until_ready(res)
    first_run_s = time.perf_counter() - start
    times = []
    for i in range(reps):
        keys = place(jax.random.split(jax.random.PRNGKey(i + 1), seeds))
        start = time.perf_counter()
        res = compiled(keys, data, hp)
        jax.block_until_ready(res)
        times.append(time.perf_counter() - start)
    warm = statistics.median(times)
    linf = [_final_linf(data, res.policy[i]) for i in range(min(seeds, 4))]
    return {"model": model, "seeds": seeds, "devices": 1 if sharding is None else len(sharding.device_set),
            "iters": iters, "compile_s": compile_s,
            "first_call_s": compile_s + first_run_s, "warm_s": warm, "warm_s_per_run": warm / seeds,
            "first_call_s_per_run": (compile_s + first_run_s) / seeds,
            "iters_per_s_total": seeds * iters / warm, "final_linf_max_first_seeds": max(linf)}


def time_imitation(model: str, iters: int, runs: int) -> dict:
    try:
        import torch
        from imitation.algorithms import mce_irl
        from imitation.rewards import reward_nets
        from seals.diagnostics.cliff_world import CliffWorldEnv
    except ImportError as e:
        return {"model": model, "skipped": f"imitation library not installed ({e.name}); "
                                           f"pip install torch==2.13.0 && pip install -e '.[peers]'"}
    import imitation

    _, _, lr, xy_obs, hidden = MODELS[model]
    torch.set_num_threads(os.cpu_count() or 1)
    env = CliffWorldEnv(width=WIDTH, height=HEIGHT, horizon=HORIZON, use_xy_obs=xy_obs)
    _, expert_om = mce_irl.mce_occupancy_measures(env)
    times, linfs = [], []
    for seed in range(runs):
        torch.manual_seed(seed)
        net = reward_nets.BasicRewardNet(env.observation_space, env.action_space, hid_sizes=list(hidden),
                                         use_action=False, use_done=False, use_next_state=False)
        algo = mce_irl.MCEIRL(expert_om, env, net, rng=np.random.default_rng(seed), optimizer_cls=torch.optim.Adam,
                              optimizer_kwargs={"lr": lr}, discount=1.0, linf_eps=0.0, grad_l2_eps=0.0,
                              log_interval=None)
        start = time.perf_counter()
        visitations = algo.train(max_iter=iters)
        times.append(time.perf_counter() - start)
        _, occ = mce_irl.mce_occupancy_measures(env, pi=algo.policy.pi)
        linfs.append(float(np.max(np.abs(occ - expert_om))))
        del visitations
    return {"model": model, "version": imitation.__version__, "torch": torch.__version__, "runs": runs,
            "s_per_run": statistics.median(times), "final_linf_max": max(linfs)}


def _markdown(result: dict) -> str:
    date, device = result["date"], result["device"]
    lines = [f"# MCE IRL on cliff world ({date}, {device}, {result['cpu_count']} cores)", "",
             f"{result['iters']} iterations per run, {WIDTH}x{HEIGHT} cliff world, horizon {HORIZON}, "
             f"exact expert occupancy, Adam, no early stopping. jaxil in "
             f"{result['dtype']}; warm = median of {result['reps']} calls of the compiled program.", "",
             "| reward model | seeds | devices | compile s | first call s (compile + run) | warm s | warm s per run | "
             "per-run speedup vs imitation (warm) | incl. compile | final L-inf |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["jaxil"]:
        fmt = lambda v: "n/a" if v is None else f"{v:.1f}x"  # noqa: E731
        lines.append(f"| {r['model']} | {r['seeds']} | {r.get('devices', 1)} | {r['compile_s']:.2f} | {r['first_call_s']:.2f} | "
                     f"{r['warm_s']:.3f} | {r['warm_s_per_run']:.4f} | {fmt(r.get('speedup_warm'))} | "
                     f"{fmt(r.get('speedup_incl_compile'))} | {r['final_linf_max_first_seeds']:.2e} |")
    lines.append("")
    for p in result["imitation"]:
        if "s_per_run" in p:
            lines.append(f"imitation {p['version']} (torch {p['torch']}), {p['model']}: {p['s_per_run']:.2f} s per "
                         f"run (median of {p['runs']}), final L-inf {p['final_linf_max']:.2e}.")
        else:
            lines.append(f"imitation, {p['model']}: {p['skipped']}")
    goal = result["goal"]
    fmt = lambda v: "n/a" if v is None else f"{v:.1f}x"  # noqa: E731
    lines += ["", f"Goal: >= {goal['target']:.0f}x per run at {GOAL_SEEDS} seeds, compilation included (first "
                  f"call, every reward model): measured {fmt(goal['measured'])} (warm, compilation excluded: "
                  f"{fmt(goal.get('measured_warm'))}), met: {goal['met']}. Seeds split over "
                  f"{goal.get('devices')} device(s) as jaxil.loop.run splits a run (every CPU core a device, "
                  f"jaxil.set_cpu_device_count); on one device: {fmt(goal.get('one_device_measured'))}."]
    return "\n".join(lines) + "\n"


GOAL_SEEDS, GOAL_TARGET = 64, 50.0


def run(models=("linear", "mlp"), seeds=(1, 64), iters: int = 1000, reps: int = 3, imitation_runs: int = 3) -> dict:
    """jaxil rows per reward model and seed count, the imitation library's rows and the goal."""
    for m in models:
        if m not in MODELS:
            raise ValueError(f"unknown reward model {m!r}; choose from {sorted(MODELS)}")
    rows = []
    for m in models:
        for s in seeds:
            rows.append(time_jaxil(m, int(s), iters, reps))
            if int(s) == GOAL_SEEDS and rows[-1]["devices"] > 1:  # the same seeds on one device, beside it
                rows.append(time_jaxil(m, int(s), iters, reps, split=False))
    peers = [time_imitation(m, iters, imitation_runs) for m in models]
    by_model = {q["model"]: q for q in peers if "s_per_run" in q}
    for r in rows:
        q = by_model.get(r["model"])
        if q:
            r["speedup_warm"] = q["s_per_run"] / r["warm_s_per_run"]
            r["speedup_incl_compile"] = q["s_per_run"] / r["first_call_s_per_run"]

    def worst(key, one_device=False):
        at64 = {}
        for r in rows:  # per model, the row with the most devices (the layout jaxil gives) or one device
            if r["seeds"] == GOAL_SEEDS and (not one_device or r["devices"] == 1):
                if r["model"] not in at64 or r["devices"] > at64[r["model"]]["devices"]:
                    at64[r["model"]] = r
        values = [r.get(key) for r in at64.values()]
        return min(values) if values and None not in values else None

    measured, measured_warm = worst("speedup_incl_compile"), worst("speedup_warm")
    one_device = worst("speedup_incl_compile", one_device=True)
    date = datetime.date.today().isoformat()
    device = report.device_name()
    return {"benchmark": "mce_irl", "date": date, "device": device, "device_kind": jax.devices()[0].device_kind,
            "cpu_count": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__,
            "dtype": str(jnp.result_type(float)), "iters": iters, "reps": reps, "jaxil": rows,
            "imitation": peers,
            "goal": {"name": f"MCE IRL per-run speedup vs imitation at {GOAL_SEEDS} seeds, compilation included "
                             f"(min over reward models)",
                     "target": GOAL_TARGET, "measured": measured, "measured_warm": measured_warm,
                     "devices": max((r["devices"] for r in rows if r["seeds"] == GOAL_SEEDS), default=None),
                     "one_device_measured": one_device,
                     "met": measured is not None and measured >= GOAL_TARGET}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="1,64")
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--imitation-runs", type=int, default=3)
    p.add_argument("--models", default="linear,mlp")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--tag", default="", help="suffix of the result file names")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="CPU devices for this process (jaxil.set_cpu_device_count; default: one per core)")
    args = p.parse_args()
    jaxil.set_cpu_device_count(args.cpu_devices or None)  # before the first computation
    models = args.models.split(",")
    result = run(models, [int(s) for s in args.seeds.split(",")], args.iters, args.reps, args.imitation_runs)
    stem = report.result_stem(args.out, "mce_irl", result["date"], args.tag, device=result["device"])
    report.save_json(stem, result)
    print(report.save_markdown(stem, _markdown(result)))


if __name__ == "__main__":
    main()
