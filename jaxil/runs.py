"""One training job over vmapped seeds: build, run, evaluate, score, write outputs.

Shared by ``jaxil train`` and ``jaxil quickstart`` so both write the same files.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxil import algos, data, envs, experts, loop, rewards, validate
from jaxil import logging as jlog
from jaxil.errors import InputError
from jaxil.results import write_results


class Job(NamedTuple):
    algo: str
    returns: np.ndarray  # [seeds]
    normalized: np.ndarray | None  # [seeds]
    run: loop.RunResult
    env_steps_per_step: int
    result: dict


def algo_names() -> list[str]:
    return sorted([*experts.ALGOS, *algos.ALGOS])


def load_task_demos(demos: str, env, num_trajectories: int | None, subsample: int | None = None,
                    seed: int = 0):
    """Loads demos by path or shipped name, checks them against ``env``, keeps K trajectories.

    ``subsample=N`` keeps every N-th transition of each trajectory from a random start
    (drawn from ``seed``), as in GAIL's experiments.
    """
    d, meta = data.load_any(experts.resolve_demos(demos), env)
    if num_trajectories is not None:
        d = data.select_trajectories(d, num_trajectories)
        meta = meta.__class__(**{**meta.__dict__, "returns": meta.returns[:num_trajectories]})
    if subsample is not None:
        if subsample < 1:
            raise InputError(f"--subsample must be >= 1 (keep every N-th transition), got {subsample}")
        d = data.subsample(d, subsample, key=jax.random.PRNGKey(seed))
    return data.to_jax(d), meta


def parse_env(arg: str) -> tuple[str, dict]:
    """``"point_maze:wall=right,speed=0.05"`` -> ``("point_maze", {"wall": "right", "speed": 0.05})``."""
    name, _, rest = arg.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InputError(f"env options must look like NAME:key=value,key=value; got {arg!r}")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        options[key.strip()] = value
    return name, options


def make_env(arg: str):
    name, options = parse_env(arg)
    return envs.make(name, **options)


def _setup(algo: str, env, steps: int | None, expert: str | None = None, reward_fn=None, offline: bool = False):
    if algo in experts.ALGOS:
        rec = experts.recipe(env.spec.name)
        if rec.algo != algo:
            module = experts.ALGOS[algo]
            rec = experts.Recipe(algo, module.Config(), module.Hparams(), rec.num_steps, rec.chunk_steps)
        rec = experts.with_steps(rec, steps) if steps is not None else rec
        trainer = experts.ALGOS[algo].make_train(rec.config, env, reward_fn=reward_fn)
        return trainer, rec.config, rec.hparams, rec.num_steps, rec.chunk_steps
    if algo in algos.ALGOS:
        config, hparams, n = algos.defaults(algo, env.spec.name, offline)
        n = steps or n
        chunk = experts.with_steps(experts.Recipe(algo, config, hparams, n, max(1, n // 10)), n).chunk_steps
        return _make(algo, config, env, expert), config, hparams, n, chunk
    raise validate.unknown_name("algorithm", algo, algo_names())


def _make(algo: str, config, env, expert: str | None, reward_fn=None):
    if algo in algos.NEEDS_EXPERT:
        spec, params = experts.load_expert(expert or env.spec.name, env)
        return algos.ALGOS[algo].make_train(config, env, algos.dagger.policy_expert(spec, params))
    if algo in experts.ALGOS:
        return experts.ALGOS[algo].make_train(config, env, reward_fn=reward_fn)
    return algos.ALGOS[algo].make_train(config, env)


def build_trainer(algo: str, env, steps: int | None = None, expert: str | None = None, config: Any = None,
                  reward: str | None = None, offline: bool = False):
    """``(trainer, config, default hparams, num_steps, chunk_steps)`` for a training job.

    Shared by ``jaxil train`` and ``jaxil sweep``: defaults per algorithm and env,
    ``config`` overriding them, the DAgger expert and a learned ``reward`` directory
    (PPO / SAC) loaded and checked against ``env``; ``offline`` the data-only mode of
    ``algos.OFFLINE_SWITCH`` algorithms.
    """
    if expert is not None and algo not in algos.NEEDS_EXPERT:
        raise InputError(f"{algo} does not query an expert; --expert is for {sorted(algos.NEEDS_EXPERT)}")
    if reward is not None and algo not in experts.ALGOS:
        raise InputError(f"--reward re-optimises a learned reward with an RL algorithm ({sorted(experts.ALGOS)}), "
                         f"not {algo}")
    reward_fn = None
    if reward is not None:
        r_spec, r_params = rewards.load_reward(reward)
        rewards.check_env(r_spec, env.spec, where=f"reward {reward!r}")
        reward_fn = rewards.as_rl_reward(r_spec, r_params)
    if offline and algo not in algos.ALGOS:
        raise InputError(f"--offline is for {sorted(algos.OFFLINE_SWITCH)}, not the RL algorithm {algo}")
    trainer, cfg, hp, n, chunk = _setup(algo, env, steps, expert, reward_fn, offline)
    if config is not None:
        cfg, trainer = config, _make(algo, config, env, expert, reward_fn)
    return trainer, cfg, hp, n, chunk


def job_demos(algo: str, env, demos: str | None, num_trajectories: int | None, subsample: int | None = None,
              seed: int = 0, replay: str | None = None, offline: bool = False):
    """``(demo arrays, metadata, (random, expert) reference returns, results.json extras)``.

    Imitation algorithms need ``demos``; RL algorithms refuse them. The reference
    returns come from the demos' metadata, else from the env's shipped expert.
    Offline ValueDICE also learns from ``replay``, a dataset of any behaviour
    (default ``mixed:ENV``, see :func:`jaxil.data.load_any`): the arrays are then an
    :class:`jaxil.algos.offpolicy.ExpertAndReplay` pair.
    """
    refs = experts.reference_returns(env.spec.name)
    if algo not in algos.ALGOS:
        if demos is not None or num_trajectories is not None or subsample is not None:
            raise InputError(f"{algo} learns from the env reward and takes no --demos / --num-trajectories / "
                             "--subsample")
        return None, None, refs, {}
    if demos is None:
        raise InputError(f"{algo} learns from demonstrations: give --demos PATH or a shipped name "
                         f"({', '.join(experts.SHIPPED)})")
    arrays, meta = load_task_demos(demos, env, num_trajectories, subsample, seed)
    if algo in algos.NEEDS_REWARDS and not meta.returns:
        raise InputError(f"{algo} learns from the rewards in its dataset, and {demos!r} has none")
    if meta.expert_return is not None and meta.random_return is not None:
        refs = (meta.random_return, meta.expert_return)
    extra = {"demos": demos, "num_trajectories": data.num_episodes(arrays),
             "demo_transitions": int(np.asarray(arrays.mask).sum())}
    if subsample is not None:
        extra["subsample"] = subsample
    if replay is not None and not (offline and algo == "valuedice"):
        raise InputError("--replay is the non-expert dataset of offline ValueDICE (valuedice --offline)")
    if offline and algo == "valuedice":
        extra["replay"] = replay = replay or f"mixed:{env.spec.name}"
        replay_arrays, _ = data.load_any(experts.resolve_demos(replay), env)
        arrays = algos.offpolicy.ExpertAndReplay(arrays, replay_arrays)
    if offline:
        extra["offline"] = True
    return arrays, meta, refs, extra


def train_job(algo: str, env_name: str, out: str, seeds: int = 4, steps: int | None = None, seed: int = 0,
              demos: str | None = None, num_trajectories: int | None = None, label: str | None = None,
              config: Any = None, hparams: Any = None, expert: str | None = None,
              reward: str | None = None, subsample: int | None = None, offline: bool = False,
              replay: str | None = None) -> Job:
    """Trains ``seeds`` runs of ``algo`` in one vmapped program and writes ``out/results.json``.

    ``env_name`` may carry options (``point_maze:wall=right``). ``expert`` (DAgger) is
    a saved policy directory or a shipped name; default the shipped expert of the env.
    ``reward`` (PPO, SAC) is a directory written by GAIL / AIRL training: the policy
    learns from that reward instead of the env's (results still report env returns).
    GAIL and AIRL write the reward of their best seed to ``out/reward``.
    """
    env = make_env(env_name)
    trainer, cfg, hp, n, chunk = build_trainer(algo, env, steps, expert, config, reward, offline)
    hp = hparams if hparams is not None else hp
    demo_arrays, _, refs, extra = job_demos(algo, env, demos, num_trajectories, subsample, seed, replay, offline)
    validate.check_hparams(hp, algo)
    expert_arrays = getattr(demo_arrays, "expert", demo_arrays)
    problem = None if expert_arrays is None else validate.batch_size_problem(cfg, expert_arrays, algo)
    if problem:  # minibatches are drawn with replacement: legal (GAIL's subsampled demos), but worth a word
        warnings.warn(problem + " Minibatches are drawn with replacement, so training goes on.", stacklevel=2)
    label = label or f"{algo} {env_name}"
    k_train, k_eval = jax.random.split(jax.random.PRNGKey(seed))
    run = loop.run(trainer, jax.random.split(k_train, seeds), hp, n, demos=demo_arrays, chunk_steps=chunk,
                   on_chunk=jlog.progress(label, n, trainer.env_steps_per_step))
    returns = experts.evaluate_seeds(env, trainer, run.state, k_eval).mean(1)
    norm = None if refs is None else (returns - refs[0]) / (refs[1] - refs[0])
    if algo in algos.NEEDS_EXPERT:
        extra["expert"] = expert or env_name
    # Seeds whose state turned non-finite: held at their last finite state (see loop.run).
    extra["diverged"] = [{"seed": d["run"], "step": d["step"]} for d in run.diverged()]
    if reward is not None:
        extra["reward"] = reward
    if algo in algos.ADVERSARIAL:
        best = int(np.argmax(returns))
        r_spec, r_params = algos.ALGOS[algo].learned_reward(cfg, env, experts.take_run(run.state, best))
        rewards.save_reward(os.path.join(out, "reward"), r_spec, r_params, {"seed": best, "algo": algo})
        extra["reward_saved"] = {"path": os.path.join(out, "reward"), "seed": best}
    result = write_results(out, algo=algo, env=env_name, returns=returns, normalized_returns=norm,
                           env_steps=run.env_steps, wall_s=run.wall_s, config=cfg, hparams=hp, **extra)
    jlog.write_run_outputs(out, label, run.metrics, max(trainer.env_steps_per_step, 1))
    return Job(algo, returns, norm, run, trainer.env_steps_per_step, result)
