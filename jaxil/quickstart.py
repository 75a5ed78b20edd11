"""``jaxil quickstart``: the main job on an embedded default, in minutes on a CPU.

Uses the expert and demonstrations shipped for cartpole: evaluates the expert,
runs every available algorithm over vmapped seeds, prints a normalised score table
and writes ``results.json`` per algorithm plus one learning-curve plot.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from jaxil import envs, experts, loop
from jaxil import logging as jlog
from jaxil.results import write_results

ENV = "cartpole"
PPO_STEPS = 240  # 123k env steps per seed: enough to see learning, seconds on a CPU


def _ppo_from_scratch(out: str, seeds: int, key) -> tuple[np.ndarray, dict]:
    env = envs.make(ENV)
    rec = experts.with_steps(experts.recipe(ENV), PPO_STEPS)
    trainer = experts.make_trainer(rec, env)
    k_train, k_eval = jax.random.split(key)
    run = loop.run(trainer, jax.random.split(k_train, seeds), rec.hparams, rec.num_steps, chunk_steps=rec.chunk_steps,
                   on_chunk=jlog.progress("ppo", rec.num_steps, trainer.env_steps_per_step))
    returns = experts.evaluate_seeds(env, trainer, run.state, k_eval).mean(1)
    norm = experts.normalize(ENV, returns)
    write_results(os.path.join(out, "ppo"), algo="ppo", env=ENV, returns=returns, normalized_returns=norm,
                  env_steps=run.env_steps, wall_s=run.wall_s, config=rec.config, hparams=rec.hparams)
    curve = run.metrics["episode_return"]
    x = np.arange(1, curve.shape[1] + 1) * trainer.env_steps_per_step
    return returns, {"PPO from scratch (env reward)": (x, curve)}


def main(out: str = "runs/quickstart", seeds: int = 4) -> dict:
    os.makedirs(out, exist_ok=True)
    ref = experts.reference_returns(ENV)
    if ref is None:
        raise FileNotFoundError(f"the shipped {ENV} expert is missing from {experts.shipped_dir(ENV)}")
    random_return, expert_return = ref
    print(f"shipped {ENV} expert: return {expert_return:.1f} (random policy {random_return:.1f})")
    rows: dict = {}
    curves: dict = {}
    key = jax.random.PRNGKey(0)
    returns, c = _ppo_from_scratch(out, seeds, key)
    rows["ppo (env reward)"] = (returns, experts.normalize(ENV, returns))
    curves.update(c)
    jlog.print_score_table(f"jaxil quickstart: {ENV}, {seeds} seeds each (normalized: 0 random, 1 expert)", rows)
    plot = os.path.join(out, "curves.png")
    jlog.plot_curves(plot, curves, "episode return", f"{ENV}: mean and 95% band over {seeds} seeds")
    print(f"wrote {plot} and results.json per algorithm under {out}")
    return rows
