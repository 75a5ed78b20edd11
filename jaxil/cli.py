"""``jaxil`` command line: expert, collect, train, quickstart."""

from __future__ import annotations

import os
import sys
from typing import Literal

import jax
import numpy as np
import tyro

import jaxil

from jaxil import data, envs, experts, runs
from jaxil import logging as jlog
from jaxil.errors import InputError
from jaxil.results import write_results



def expert(
    env: str = "cartpole",
    seeds: int = 8,
    out: str = "experts/cartpole",
    steps: int | None = None,
    demo_episodes: int | None = None,
    seed: int = 0,
) -> dict:
    """Train experts over vmapped seeds; save the best seed's policy and demos.

    Args:
        env: env name (see `jaxil.envs.names()`).
        seeds: number of seeds trained in one vmapped program.
        out: output directory: policy.{json,msgpack}, demos.{npz,json}, results.json.
        steps: trainer iterations (default: the env's recipe).
        demo_episodes: episodes of demonstrations to collect from the best seed.
        seed: base PRNG seed.
    """
    rec = experts.recipe(env)
    n = steps or rec.num_steps
    per_step = experts.make_trainer(rec, envs.make(env)).env_steps_per_step
    res = experts.train_experts(env, seeds, seed, steps, on_chunk=jlog.progress(f"expert {env}", n, per_step))
    os.makedirs(out, exist_ok=True)
    from jaxil.policy import save_policy

    expert_return = float(res.returns[res.best_seed])
    save_policy(out, res.spec, res.params, {"algo": res.recipe.algo, "seed": res.best_seed,
                                            "expert_return": expert_return, "random_return": res.random_return})
    demos, meta = experts.collect_expert_demos(env, res.spec, res.params, demo_episodes or res.recipe.demo_episodes,
                                               jax.random.PRNGKey(seed + 1), expert_return, res.random_return,
                                               source=f"jaxil expert {res.recipe.algo} seed {res.best_seed}")
    data.save_demos(os.path.join(out, "demos.npz"), demos, meta)
    norm = (res.returns - res.random_return) / (expert_return - res.random_return)
    result = write_results(
        out, algo=f"expert-{res.recipe.algo}", env=env, returns=res.returns, normalized_returns=norm,
        env_steps=res.run.env_steps, wall_s=res.run.wall_s, config=res.recipe.config, hparams=res.recipe.hparams,
        best_seed=res.best_seed, random_return=res.random_return, demo_returns=list(meta.returns),
    )
    jlog.write_run_outputs(out, f"{res.recipe.algo} expert", res.run.metrics, per_step)
    jlog.print_score_table(f"expert {env}", {f"{res.recipe.algo} seeds": (res.returns, norm)})
    return result


def collect(policy: str, episodes: int = 50, out: str = "demos.npz", seed: int = 0) -> None:
    """Collect demonstrations from a saved policy directory.

    Args:
        policy: directory written by `jaxil expert` (policy.json + policy.msgpack).
        episodes: number of episodes to record.
        out: path of the .npz to write (metadata goes to the .json beside it).
        seed: PRNG seed.
    """
    from jaxil.policy import load_policy

    spec, params, meta = load_policy(policy)
    demos, dmeta = experts.collect_expert_demos(
        spec.env.name, spec, params, episodes, jax.random.PRNGKey(seed), meta.get("expert_return"),
        meta.get("random_return"), source=f"jaxil collect from {os.path.basename(os.path.abspath(policy))}",
        env_options=dict(spec.env.options))
    data.save_demos(out, demos, dmeta)
    print(f"wrote {episodes} episodes ({demos.num_transitions} transitions), mean return "
          f"{np.mean(dmeta.returns):.2f}, to {out}")


TrainAlgo = Literal[tuple(runs.algo_names())]  # every trainer: RL (ppo, sac) and imitation


def train(
    algo: tyro.conf.Positional[TrainAlgo],
    env: str = "cartpole",
    demos: str | None = None,
    num_trajectories: int | None = None,
    seeds: int = 4,
    steps: int | None = None,
    out: str = "runs/train",
    seed: int = 0,
    expert: str | None = None,
    reward: str | None = None,
    subsample: int | None = None,
    offline: bool = False,
    replay: str | None = None,
) -> dict:
    """Train ALGO over vmapped seeds and write OUT/results.json.

    Args:
        algo: algorithm name.
        env: env name, with options if any: `point_maze:wall=right`.
        demos: demonstrations: a .npz path, a shipped name (cartpole, pendulum, hopper), minari:ID, a Minari or
            imitation-library dataset directory, or .npz/.h5 arrays.
        num_trajectories: use the first K trajectories of the demos.
        seeds: number of seeds, run as one vmapped program.
        steps: trainer iterations (default: the algorithm's or env recipe's).
        out: output directory.
        seed: base PRNG seed.
        expert: dagger only: the expert to query, a directory written by `jaxil expert` or a
            shipped name (default: the shipped expert of ENV).
        reward: ppo / sac only: a learned reward (the `reward/` directory GAIL and AIRL write)
            to optimise instead of the env reward, e.g. in a changed env.
        subsample: keep every N-th transition of each demo trajectory, from a random start
            (GAIL's experiments use 20).
        offline: valuedice / iqlearn: learn from the data alone, no env interaction.
        replay: valuedice --offline: the non-expert dataset that stands in for the replay
            buffer (any --demos source; default mixed:ENV, built from ENV's shipped expert).
    """
    job = runs.train_job(algo, env, out, seeds, steps, seed, demos, num_trajectories, expert=expert, reward=reward,
                         subsample=subsample, offline=offline, replay=replay)
    jlog.print_score_table(f"{algo} on {env}", {algo: (job.returns, job.normalized)})
    return job.result


def quickstart(out: str = "runs/quickstart", seeds: int = 4) -> None:
    """The main job on an embedded default: cartpole, shipped expert and demos.

    Over vmapped seeds: PPO from scratch on the env reward, BC and DAgger at 1, 4 and 10
    expert trajectories, GAIL and AIRL from 1. Scores every seed against the shipped
    expert, prints one score table and writes results.json per row and quickstart.png.

    Args:
        out: output directory.
        seeds: seeds per algorithm, vmapped.
    """
    from jaxil import quickstart as qs

    qs.main(out, seeds)


def sweep(
    algo: tyro.conf.Positional[TrainAlgo],
    env: str = "cartpole",
    demos: str | None = None,
    num_trajectories: int | None = None,
    seeds: int = 4,
    steps: int | None = None,
    out: str = "runs/sweep",
    seed: int = 0,
    expert: str | None = None,
    grid: tyro.conf.UseAppendAction[tuple[str, ...]] = (),
    random: tyro.conf.UseAppendAction[tuple[str, ...]] = (),
    num_draws: int = 0,
    max_batch: int | None = None,
    chunk_steps: int | None = None,
    checkpoint_every: int = 0,
    keep_checkpoints: int = 3,
    resume: bool = False,
    tensorboard: bool = True,
    coordinator: str | None = None,
    num_processes: int = 1,
    process_id: int = 0,
    subsample: int | None = None,
    offline: bool = False,
    replay: str | None = None,
) -> dict:
    """Train ALGO over seeds x hyperparameter settings as one vmapped program, sharded over devices.

    Runs are seed-major (run r: seed r // settings, setting r % settings). Writes
    OUT/results.json (per-run lists and each run's hparams), metrics.csv, curve.png
    (one line per setting), tensorboard/ and, with --checkpoint-every, checkpoints/.

    Args:
        algo: algorithm name (as for `jaxil train`).
        env: env name.
        demos: demonstrations: a .npz path, a shipped name (cartpole, pendulum, hopper), minari:ID, a Minari or
            imitation-library dataset directory, or .npz/.h5 arrays.
        num_trajectories: use the first K trajectories of the demos.
        seeds: seeds per hyperparameter setting.
        steps: trainer iterations (default: the algorithm's or env recipe's).
        out: output directory.
        seed: base PRNG seed (also seeds the random draws).
        expert: dagger only: the expert to query (default: the shipped expert of ENV).
        grid: NAME=v1,v2,... over a field of the algorithm's Hparams; repeat for a product grid.
        random: NAME=uniform:LOW:HIGH or NAME=loguniform:LOW:HIGH, drawn --num-draws times.
        num_draws: random settings per grid point.
        max_batch: at most this many runs at once, more in sequential batches (default: all, or what fits in device memory where the backend reports it).
        chunk_steps: trainer steps per compiled chunk, between which progress, logs and checkpoints happen; must divide the steps.
        checkpoint_every: save the full train state every K chunks (0: never).
        keep_checkpoints: checkpoints kept per batch.
        resume: continue from the newest complete checkpoint in OUT.
        tensorboard: write per-run TensorBoard scalars under OUT/tensorboard.
        coordinator: HOST:PORT of process 0 for a multi-process (multi-host) sweep.
        num_processes: number of processes in a multi-process sweep.
        process_id: this process's index in a multi-process sweep.
        subsample: keep every N-th transition of each demo trajectory, from a random start.
        offline: valuedice / iqlearn: learn from the data alone (as for `jaxil train`).
        replay: valuedice --offline: the non-expert dataset (as for `jaxil train`).
    """
    from jaxil import sweep as sw

    sw.init_distributed(coordinator, num_processes, process_id)
    job = sw.sweep_job(algo, env, out, seeds, steps, seed, demos, num_trajectories, expert, grid, random, num_draws,
                       max_batch, chunk_steps, checkpoint_every, keep_checkpoints, resume, tensorboard,
                       subsample=subsample, offline=offline, replay=replay)
    return job.result


def main(argv: list[str] | None = None) -> None:
    # Every CPU core a device, before the first computation, so vmapped runs split over
    # the cores (jaxil.loop.run_sharding); JAXIL_CPU_DEVICES=N picks another count.
    # Called in a process that has already computed (a notebook, a test), the layout stays.
    count = os.environ.get("JAXIL_CPU_DEVICES")
    try:
        jaxil.set_cpu_device_count(int(count) if count else None)
    except RuntimeError:
        pass
    tyro.extras.subcommand_cli_from_dict(
        {"expert": expert, "collect": collect, "train": train, "quickstart": quickstart, "sweep": sweep},
        args=sys.argv[1:] if argv is None else argv,
        prog="jaxil",
    )


# What the console command reports as a one-line error: jaxil's checks of what it is given
# (InputError: bad names, shapes, values, files) and paths that are not there. Anything
# else, a plain ValueError from numpy or JAX included, is a bug and keeps its traceback.
USER_ERRORS = (InputError, FileNotFoundError, IsADirectoryError, NotADirectoryError)


def run(argv: list[str] | None = None) -> int:
    """The ``jaxil`` console command: :func:`main`, with a bad input reported as
    ``jaxil: error: ...`` on stderr and exit status 2 instead of a traceback
    (``JAXIL_TRACEBACK=1`` shows the traceback)."""
    try:
        main(argv)
    except USER_ERRORS as err:
        if os.environ.get("JAXIL_TRACEBACK"):
            raise
        print(f"jaxil: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run())
