"""``jaxil quickstart``: the main job on an embedded default, in minutes on a CPU.

With the expert and demonstrations shipped for cartpole it runs, each over vmapped
seeds: PPO from scratch on the env reward, BC and DAgger at 1, 4 and 10 expert
trajectories, GAIL and AIRL from 1 trajectory. It prints one normalised score table and writes
``results.json`` per run plus ``quickstart.png`` (learning curve and scores).
"""

from __future__ import annotations

import os

import numpy as np

from jaxil import algos, experts, runs
from jaxil import logging as jlog

ENV = "cartpole"
PPO_STEPS = 240  # 123k env steps per seed: enough to see learning, seconds on a CPU
TRAJECTORIES = (1, 4, 10)
# GAIL / AIRL take ~20 s per row on a 2-core CPU: run them at their headline setting only.
ADVERSARIAL_TRAJECTORIES = (1,)


def main(out: str = "runs/quickstart", seeds: int = 4) -> dict:
    ref = experts.reference_returns(ENV)
    if ref is None:
        raise FileNotFoundError(f"the shipped {ENV} expert is missing from {experts.shipped_dir(ENV)}")
    print(f"shipped {ENV} expert: return {ref[1]:.1f} (uniform random policy {ref[0]:.1f})")
    jobs = {"ppo (env reward)": runs.train_job("ppo", ENV, os.path.join(out, "ppo"), seeds, PPO_STEPS)}
    for algo in ("bc", "dagger", "gail", "airl"):
        for k in ADVERSARIAL_TRAJECTORIES if algo in algos.ADVERSARIAL else TRAJECTORIES:
            jobs[f"{algo}, {k} traj"] = runs.train_job(algo, ENV, os.path.join(out, f"{algo}-{k}traj"), seeds,
                                                       demos=ENV, num_trajectories=k, label=f"{algo} {k} traj")
    rows = {name: (job.returns, job.normalized) for name, job in jobs.items()}
    jlog.print_score_table(f"jaxil quickstart: {ENV}, {seeds} seeds per row (normalized: 0 random, 1 expert)", rows)
    plot = os.path.join(out, "quickstart.png")
    _plot(plot, jobs["ppo (env reward)"], {n: j for n, j in jobs.items() if j.normalized is not None}, seeds)
    print(f"wrote {plot} and results.json per run under {out}/")
    return rows


def _plot(path: str, ppo_job: runs.Job, scored: dict, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    y = jlog.smooth_nan(ppo_job.run.metrics["episode_return"])
    x = np.arange(1, y.shape[1] + 1) * ppo_job.env_steps_per_step
    mean, half = y.mean(0), 1.96 * y.std(0) / np.sqrt(y.shape[0])
    left.plot(x, mean)
    left.fill_between(x, mean - half, mean + half, alpha=0.25)
    left.set(xlabel="env steps", ylabel="episode return", title=f"PPO from scratch, {seeds} seeds (95% band)")
    names = list(scored)
    means = [float(np.mean(scored[n].normalized)) for n in names]
    worst = [float(np.min(scored[n].normalized)) for n in names]
    pos = np.arange(len(names))
    right.bar(pos, means, label="mean over seeds")
    right.scatter(pos, worst, color="k", zorder=3, label="worst seed")
    right.axhline(1.0, ls="--", c="gray")
    right.set_xticks(pos, names, rotation=30, ha="right")
    right.set(ylabel="normalized return", title=f"{ENV}: final scores")
    right.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
