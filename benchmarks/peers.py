"""jaxil vs the PyTorch `imitation` library, same task and env-step budget, one run.

    python -m benchmarks.peers [--algos gail,airl,bc,dagger] [--jaxil-seeds 1,16] [--imitation-seeds 2]
                               [--budget 327680] [--bc-updates 2000] [--trajectories 20] [--quick]
                               [--dagger-rounds 5] [--dagger-trajectories 1]
                               [--peer-results EARLIER.json] [--cpu-devices N]

Run it where both libraries import (the ``imitation`` library needs its own
environment: ``pip install torch==2.13.0 && pip install -e '.[peers]'``); without
it the peer rows are marked skipped. ``--quick`` (GAIL and AIRL, 163840 env steps,
1 seed of the peer) takes about 4 minutes on 2 CPU cores; the default run about
10 minutes on an idle 2-core machine.

Per algorithm (GAIL, AIRL on cartpole) both libraries learn from the same demos
(jaxil's shipped cartpole expert demos, the first ``--trajectories`` episodes,
converted to ``imitation`` trajectories for the peer) for the same number of env
steps, and every 16384 env steps (one round of the peer: 8 envs x 2048 PPO steps;
16 PPO iterations of jaxil's cartpole default, 8 envs x 128 steps) both evaluate
their current deterministic policy on ``--eval-episodes`` fresh CartPole episodes.
The score is normalised with the random and expert returns of jaxil's shipped
cartpole expert (0 = uniform random policy, 1 = the expert's 500).

* jaxil: ``jaxil train``'s defaults (``jaxil.runs.build_trainer``), all seeds in
  one ``jit(vmap(scan))`` program through ``jaxil.loop.run``; evaluation in its
  ``on_chunk`` callback.
* imitation: its GAIL / AIRL with the PPO generator and the settings of its
  documentation's CartPole examples (``docs/tutorials/3_train_gail``,
  ``4_train_airl``), on gymnasium's ``CartPole-v1`` (``allow_variable_horizon``,
  since episodes end when the pole falls); one seed after another, as that
  library runs seeds; evaluation in ``train``'s per-round callback.

BC (``--algos bc``) has a budget of gradient updates instead (``--bc-updates``),
evaluated every 200 updates; both sides use jaxil's BC network, batch and
learning rate (MLP 64-64 tanh, 256, Adam 1e-3), imitation's defaults otherwise.

DAgger (``--algos dagger``) starts from ``--dagger-trajectories`` demos and runs
``--dagger-rounds`` rounds of jaxil's round size (4 envs x one 500-step episode),
both libraries querying jaxil's shipped cartpole expert (wrapped as a
stable-baselines3 policy for the peer), the learner acting from the first round
(beta = 0), 1000 BC updates per round on jaxil's BC network; evaluated after every
round. jaxil's round 0 (2000 BC updates on the demos) happens in ``init``; the
peer's first round trains on the demos and its first labelled rollout together.

Wall time is end to end (building the trainer, initialisation and, for jaxil,
tracing and compilation) and excludes the evaluations on both sides: the time
spent inside the evaluation callbacks is measured and subtracted. Time to 0.9 of
a seed is the training wall time at the end of the first evaluation interval
after which that seed scores >= 0.9. jaxil's per-seed time at S seeds is the
program's wall time divided by S; the headline "all seeds" time is when its
last seed reached 0.9, divided by S. The peer's per-seed time is the mean over
its seeds; a seed that never reaches 0.9 counts with its whole training time,
which makes the ratio a lower bound (marked ">="). Writes
``benchmarks/results/peers-<date>-<device>[-quick][-<tag>].{json,md}`` (``<device>``: the card, as
:func:`benchmarks.report.device_name` names it; the JSON's ``device`` is the platform).
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import datetime
import json
import os
import platform
import tempfile
import time

import jax
import numpy as np

from jaxil import data, eval as ev, experts, loop, policy as pol, runs
from benchmarks import report

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = "cartpole"
GYM_ENV = "CartPole-v1"
THRESHOLD = 0.9
ROUND_STEPS = 8 * 2048  # the peer's round: n_envs x PPO n_steps; also jaxil's eval interval
DEFAULT_BUDGET = 20 * ROUND_STEPS  # 327680 env steps: 20 peer rounds = 320 jaxil GAIL iterations
# 163840 env steps: past the slowest of 64 jaxil GAIL seeds (0.9 at 147k) and the peer's GAIL seed (164k),
# so the quick comparison ends with a ratio rather than with runs still below 0.9.
QUICK_BUDGET = 10 * ROUND_STEPS
INSTALL_HINT = "pip install torch==2.13.0 && pip install -e '.[peers]'"

# The imitation library's documented CartPole settings (docs/tutorials/3_train_gail.ipynb,
# 4_train_airl.ipynb): PPO generator on 8 envs, RunningNorm discriminator inputs.
IMITATION_SETTINGS = {
    "gail": {"ppo": dict(batch_size=64, ent_coef=0.0, learning_rate=4e-4, gamma=0.95, n_epochs=5),
             "trainer": dict(demo_batch_size=1024, gen_replay_buffer_capacity=512, n_disc_updates_per_round=8),
             "reward_net": "BasicRewardNet"},
    "airl": {"ppo": dict(batch_size=64, ent_coef=0.0, learning_rate=5e-4, gamma=0.95, clip_range=0.1, vf_coef=0.1,
                         n_epochs=5),
             "trainer": dict(demo_batch_size=2048, gen_replay_buffer_capacity=512, n_disc_updates_per_round=16),
             "reward_net": "BasicShapedRewardNet"},
}
N_ENVS = 8


# ---- shared -----------------------------------------------------------------------------

def cartpole_demos(trajectories: int):
    """``(env, jax demos, numpy demos, (random, expert) returns)`` of the shipped cartpole demos."""
    env = runs.make_env(ENV)
    arrays, meta = runs.load_task_demos(ENV, env, trajectories)
    refs = (meta.random_return, meta.expert_return)
    return env, arrays, data.to_numpy(arrays), refs


def _normalize(returns, refs) -> np.ndarray:
    return np.asarray(ev.normalized_score(np.asarray(returns, np.float64), *refs))


class HitClock:
    """Training wall time (evaluation excluded) and first time each seed reaches the threshold."""

    def __init__(self, seeds: int, threshold: float = THRESHOLD, unit: str = "env_steps"):
        self.unit = unit  # what the progress counts: env steps, or gradient updates for offline methods
        self.start = time.perf_counter()
        self.eval_s = 0.0
        self.threshold = threshold
        self.hit_s: list[float | None] = [None] * seeds
        self.hit_steps: list[int | None] = [None] * seeds
        self.curve: list[dict] = []

    def train_s(self, now: float | None = None) -> float:
        return (time.perf_counter() if now is None else now) - self.start - self.eval_s

    def record(self, progress: int, evaluate) -> np.ndarray:
        """Calls ``evaluate() -> normalised scores [seeds]`` off the training clock."""
        t0 = time.perf_counter()
        train_s = self.train_s(t0)
        scores = np.asarray(evaluate(), np.float64)
        for i, s in enumerate(scores):
            if self.hit_s[i] is None and s >= self.threshold:
                self.hit_s[i], self.hit_steps[i] = train_s, progress
        self.curve.append({self.unit: progress, "train_s": train_s, "normalized": scores.tolist()})
        self.eval_s += time.perf_counter() - t0
        return scores


def _summary(library: str, algo: str, seeds: int, runs_per_program: int, clock_rows: list[dict], env_steps: int,
             extra: dict, unit: str = "env_steps") -> dict:
    """One result row from per-seed hit times (``clock_rows``: dicts of one seed each)."""
    final = np.array([r["final_normalized"] for r in clock_rows])
    wall = np.array([r["wall_s"] for r in clock_rows])  # wall of the program the seed ran in
    hit = [r["time_to_0.9_s"] for r in clock_rows]
    per_seed_hit = [None if h is None else h / runs_per_program for h in hit]
    reached = sum(h is not None for h in hit)
    if runs_per_program > 1:  # one vmapped program: the batch is done when its last seed is
        all_hit = None if reached < seeds else max(hit) / runs_per_program
        bound = float(wall.max() / runs_per_program)
    else:  # independent runs: mean of the seeds' own times
        all_hit = None if reached < seeds else float(np.mean(hit))
        bound = float(np.mean([w if h is None else h for h, w in zip(hit, wall)]))
    total_wall = float(wall.max()) if runs_per_program > 1 else float(wall.sum())
    return {"library": library, "algo": algo, "env": ENV, "seeds": seeds,
            "wall_s_end_to_end": total_wall, "wall_s_per_seed": total_wall / seeds,
            "env_steps": env_steps, "env_steps_per_s": env_steps * seeds / total_wall if env_steps else None,
            "final_normalized": final.tolist(), "final_normalized_mean": float(final.mean()),
            "final_normalized_worst": float(final.min()),
            "time_to_0.9_s": hit, "time_to_0.9_per_seed_s": per_seed_hit,
            f"{unit}_to_0.9": [r["progress_to_0.9"] for r in clock_rows],
            "seeds_reaching_0.9": reached,
            "per_seed_time_to_0.9_s": all_hit,
            "per_seed_time_to_0.9_lower_bound_s": bound if all_hit is None else all_hit,
            **extra}


# ---- jaxil --------------------------------------------------------------------------------

def _jaxil_eval_fn(env, trainer, seeds: int, episodes: int):
    act = pol.make_act(trainer.policy_spec)

    def returns(states, key):
        params = jax.vmap(trainer.policy)(states)
        return jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, episodes))(params, jax.random.split(key, seeds))

    return jax.jit(returns)


def _timed_run(clock: HitClock, env, refs, trainer, hparams, demos, seeds: int, steps: int, chunk: int,
               per_step: int, eval_episodes: int, seed: int):
    """``steps`` trainer steps of ``trainer`` over ``seeds`` vmapped seeds, every ``chunk`` steps an
    evaluation off ``clock`` (progress = steps x ``per_step``): ``(run, wall s, per-seed rows)``."""
    k_train, k_eval = jax.random.split(jax.random.PRNGKey(seed))
    evaluate = _jaxil_eval_fn(env, trainer, seeds, eval_episodes)
    last = {}

    def on_chunk(done, state, metrics):
        key = jax.random.fold_in(k_eval, done)
        last["scores"] = clock.record(done * per_step, lambda: _normalize(evaluate(state, key).mean(1), refs))

    run = loop.run(trainer, jax.random.split(k_train, seeds), hparams, steps, demos=demos, chunk_steps=chunk,
                   on_chunk=on_chunk)
    wall = clock.train_s()
    rows = [{"wall_s": wall, "final_normalized": float(last["scores"][i]), "time_to_0.9_s": clock.hit_s[i],
             "progress_to_0.9": clock.hit_steps[i]} for i in range(seeds)]
    return run, wall, rows


def jaxil_adversarial(algo: str, seeds: int, budget: int, trajectories: int, eval_episodes: int,
                      seed: int = 0) -> dict:
    """jaxil's ``algo`` with ``jaxil train``'s cartpole defaults, ``seeds`` vmapped seeds, ``budget`` env steps."""
    env, demos, _, refs = cartpole_demos(trajectories)
    clock = HitClock(seeds)
    trainer, config, hparams, _, _ = runs.build_trainer(algo, env)
    per_iter = trainer.env_steps_per_step
    chunk = max(1, ROUND_STEPS // per_iter)
    iterations = budget // (chunk * per_iter) * chunk
    if iterations < chunk:
        raise ValueError(f"budget {budget} is below one evaluation interval of {chunk * per_iter} env steps")
    run, wall, rows = _timed_run(clock, env, refs, trainer, hparams, demos, seeds, iterations, chunk, per_iter,
                                 eval_episodes, seed)
    return _summary("jaxil", algo, seeds, seeds, rows, run.env_steps,
                    {"version": jaxil.__version__, "jax": jax.__version__, "device": jax.devices()[0].device_kind,
                     "iterations": iterations, "env_steps_per_iteration": per_iter, "eval_every_env_steps":
                     chunk * per_iter, "eval_s_excluded": clock.eval_s, "curve": clock.curve,
                     "settings": {"config": repr(config), "hparams": repr(hparams)}})


# ---- the imitation library -------------------------------------------------------------------

def _imitation_modules():
    import gymnasium
    import stable_baselines3
    import torch
    from imitation.algorithms.adversarial import airl, gail
    from imitation.data import types
    from imitation.rewards import reward_nets
    from imitation.util import logger, networks, util

    return gymnasium, stable_baselines3, torch, {"gail": gail.GAIL, "airl": airl.AIRL}, types, reward_nets, \
        logger, networks, util


def imitation_trajectories(demos_np, types_module) -> list:
    """jaxil demos as ``imitation.data.types.Trajectory`` objects (one per episode)."""
    from jaxil.data.importers import demos_to_episodes

    out = []
    for ep in demos_to_episodes(demos_np):
        out.append(types_module.Trajectory(obs=np.asarray(ep.observations, np.float32),
                                           acts=np.asarray(ep.actions, np.int64), infos=None,
                                           terminal=bool(np.asarray(ep.terminated)[-1])))
    return out


def _imitation_eval(policy, venv, episodes: int, refs) -> float:
    """Mean normalised return of ``episodes`` deterministic episodes (stable-baselines3's evaluate_policy)."""
    from stable_baselines3.common.evaluation import evaluate_policy

    returns, _ = evaluate_policy(policy, venv, n_eval_episodes=episodes, deterministic=True,
                                 return_episode_rewards=True)
    return float(_normalize(np.mean(returns), refs))


def imitation_one_seed(algo: str, seed: int, budget: int, trajectories: list, refs, eval_episodes: int) -> dict:
    gym, sb3, torch, classes, _, reward_nets, logger, networks, util = _imitation_modules()
    settings = IMITATION_SETTINGS[algo]
    clock = HitClock(1)
    torch.manual_seed(seed)
    venv = util.make_vec_env(GYM_ENV, n_envs=N_ENVS, rng=np.random.default_rng(seed))
    # device="cpu": stable-baselines3's PPO with an MLP policy is meant for the CPU (it warns on a GPU).
    learner = sb3.PPO(env=venv, policy=sb3.ppo.MlpPolicy, seed=seed, device="cpu", **settings["ppo"])
    net_cls = getattr(reward_nets, settings["reward_net"])
    reward_net = net_cls(observation_space=venv.observation_space, action_space=venv.action_space,
                         normalize_input_layer=networks.RunningNorm)
    with tempfile.TemporaryDirectory() as log_dir:
        trainer = classes[algo](demonstrations=trajectories, venv=venv, gen_algo=learner, reward_net=reward_net,
                                allow_variable_horizon=True, log_dir=log_dir,
                                custom_logger=logger.configure(log_dir, format_strs=[]), **settings["trainer"])
        eval_venv = util.make_vec_env(GYM_ENV, n_envs=N_ENVS, rng=np.random.default_rng(10_000 + seed))
        round_steps = trainer.gen_train_timesteps
        last = {}

        def callback(r):
            last["score"] = clock.record((r + 1) * round_steps,
                                         lambda: [_imitation_eval(learner, eval_venv, eval_episodes, refs)])[0]

        trainer.train(budget, callback=callback)
    wall = clock.train_s()
    rounds = budget // round_steps
    return {"wall_s": wall, "final_normalized": last["score"], "time_to_0.9_s": clock.hit_s[0],
            "progress_to_0.9": clock.hit_steps[0], "eval_s_excluded": clock.eval_s, "curve": clock.curve,
            "env_steps": rounds * round_steps}


def imitation_adversarial(algo: str, seeds: int, budget: int, trajectories: int, eval_episodes: int,
                          torch_threads: int = 1) -> dict:
    """The imitation library's ``algo`` on gymnasium CartPole-v1, ``seeds`` runs one after another.

    ``torch_threads=1``: its small MLPs run fastest on one thread; two threads on a
    2-core machine shared with other jobs made a GAIL round about 10x slower.
    """
    try:
        _, _, torch, _, types_module, *_ = _imitation_modules()
    except ImportError as e:
        return {"library": "imitation", "algo": algo, "env": ENV,
                "skipped": f"imitation library not installed ({e.name}); {INSTALL_HINT}"}
    import imitation

    torch.set_num_threads(torch_threads)
    _, _, demos_np, refs = cartpole_demos(trajectories)
    trajs = imitation_trajectories(demos_np, types_module)
    rows = [imitation_one_seed(algo, s, budget, trajs, refs, eval_episodes) for s in range(seeds)]
    return _summary("imitation", algo, seeds, 1, rows, rows[0]["env_steps"],
                    {"version": imitation.__version__, "torch": torch.__version__, "torch_threads": torch_threads,
                     "eval_every_env_steps": ROUND_STEPS, "eval_s_excluded": sum(r["eval_s_excluded"] for r in rows),
                     "curve": [r["curve"] for r in rows],
                     "settings": {**IMITATION_SETTINGS[algo], "n_envs": N_ENVS, "env": GYM_ENV}})


# ---- BC (offline: the budget is gradient updates) ---------------------------------------------

BC_UPDATES = 2000  # `jaxil train bc`'s default: 40 steps of 50 updates
BC_EVAL_EVERY = 200


def jaxil_bc(seeds: int, updates: int, trajectories: int, eval_episodes: int, seed: int = 0) -> dict:
    """jaxil's BC with ``jaxil train``'s defaults (MLP 64-64 tanh, batch 256, Adam 1e-3), ``seeds`` vmapped seeds."""
    env, demos, _, refs = cartpole_demos(trajectories)
    clock = HitClock(seeds, unit="updates")
    trainer, config, hparams, _, _ = runs.build_trainer("bc", env)
    per_step = config.updates_per_step
    chunk = max(1, BC_EVAL_EVERY // per_step)
    steps = updates // (chunk * per_step) * chunk
    if steps < chunk:
        raise ValueError(f"budget {updates} is below one evaluation interval of {chunk * per_step} updates")
    _, wall, rows = _timed_run(clock, env, refs, trainer, hparams, demos, seeds, steps, chunk, per_step,
                               eval_episodes, seed)
    return _summary("jaxil", "bc", seeds, seeds, rows, 0,
                    {"version": jaxil.__version__, "jax": jax.__version__, "device": jax.devices()[0].device_kind,
                     "updates": steps * per_step, "updates_per_s": steps * per_step * seeds / wall,
                     "eval_every_updates": chunk * per_step, "eval_s_excluded": clock.eval_s, "curve": clock.curve,
                     "settings": {"config": repr(config), "hparams": repr(hparams)}}, unit="updates")


def imitation_bc_one_seed(seed: int, updates: int, transitions, spaces, refs, eval_episodes: int) -> dict:
    gym, sb3, torch, _, _, _, logger, _, util = _imitation_modules()
    from imitation.algorithms import bc as ibc
    from stable_baselines3.common import policies as sb3_policies

    obs_space, act_space = spaces
    clock = HitClock(1, unit="updates")
    torch.manual_seed(seed)
    # jaxil's network, batch and learning rate (as benchmarks/bc_throughput.py); imitation's other defaults.
    policy = sb3_policies.ActorCriticPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=[64, 64],
                                            activation_fn=torch.nn.Tanh)
    with tempfile.TemporaryDirectory() as log_dir:
        trainer = ibc.BC(observation_space=obs_space, action_space=act_space, rng=np.random.default_rng(seed),
                         policy=policy, demonstrations=transitions, batch_size=256, optimizer_kwargs={"lr": 1e-3},
                         device="cpu", custom_logger=logger.configure(log_dir, format_strs=[]))
        eval_venv = util.make_vec_env(GYM_ENV, n_envs=N_ENVS, rng=np.random.default_rng(10_000 + seed))
        score = None
        for done in range(BC_EVAL_EVERY, updates + 1, BC_EVAL_EVERY):
            trainer.train(n_batches=BC_EVAL_EVERY, log_interval=10**9, progress_bar=False)
            score = clock.record(done, lambda: [_imitation_eval(trainer.policy, eval_venv, eval_episodes, refs)])[0]
    wall = clock.train_s()
    return {"wall_s": wall, "final_normalized": score, "time_to_0.9_s": clock.hit_s[0],
            "progress_to_0.9": clock.hit_steps[0], "eval_s_excluded": clock.eval_s, "curve": clock.curve,
            "updates": updates // BC_EVAL_EVERY * BC_EVAL_EVERY}


def imitation_bc(seeds: int, updates: int, trajectories: int, eval_episodes: int, torch_threads: int = 1) -> dict:
    """The imitation library's BC on the same transitions, ``seeds`` runs one after another."""
    try:
        gym, _, torch, _, types_module, *_ = _imitation_modules()
        from imitation.data import rollout
    except ImportError as e:
        return {"library": "imitation", "algo": "bc", "env": ENV,
                "skipped": f"imitation library not installed ({e.name}); {INSTALL_HINT}"}
    import imitation

    torch.set_num_threads(torch_threads)
    env, _, demos_np, refs = cartpole_demos(trajectories)
    transitions = rollout.flatten_trajectories(imitation_trajectories(demos_np, types_module))
    spaces = (gym.spaces.Box(-np.inf, np.inf, (env.spec.obs_size,), np.float32),
              gym.spaces.Discrete(env.spec.action_size))
    rows = [imitation_bc_one_seed(s, updates, transitions, spaces, refs, eval_episodes) for s in range(seeds)]
    wall = sum(r["wall_s"] for r in rows)
    return _summary("imitation", "bc", seeds, 1, rows, 0,
                    {"version": imitation.__version__, "torch": torch.__version__, "torch_threads": torch_threads,
                     "updates": rows[0]["updates"], "updates_per_s": rows[0]["updates"] * seeds / wall,
                     "eval_every_updates": BC_EVAL_EVERY,
                     "eval_s_excluded": sum(r["eval_s_excluded"] for r in rows), "curve": [r["curve"] for r in rows],
                     "settings": {"policy": "ActorCriticPolicy MLP (64, 64) tanh", "batch_size": 256, "lr": 1e-3,
                                  "ent_weight": 1e-3, "l2_weight": 0.0}}, unit="updates")


def bc_cartpole(seeds=(1, 16), updates: int = BC_UPDATES, quick: bool = False, imitation_seeds: int = 2,
                trajectories: int = 20, eval_episodes: int = 16, torch_threads: int = 1) -> dict:
    """BC on cartpole: per-seed wall time to 0.9 with a budget of gradient updates."""
    rows = [jaxil_bc(s, updates, trajectories, eval_episodes) for s in seeds]
    peer = imitation_bc(1 if quick else imitation_seeds, updates, trajectories, eval_episodes, torch_threads) \
        if imitation_seeds else {"library": "imitation", "algo": "bc", "env": ENV, "skipped": "--imitation-seeds 0"}
    _ratios(rows, peer)
    return {"algo": "bc", "env": ENV, "budget_updates": updates, "trajectories": trajectories,
            "eval_episodes": eval_episodes, "jaxil": rows, "imitation": peer}


# ---- DAgger (an expert to query: jaxil's shipped cartpole expert on both sides) -----------------

DAGGER_ROUNDS = 5  # `jaxil train dagger`'s default
DAGGER_TRAJECTORIES = 1


def jaxil_dagger(seeds: int, rounds: int, trajectories: int, eval_episodes: int, seed: int = 0) -> dict:
    """jaxil's DAgger with ``jaxil train``'s defaults (round 0: BC on the demos; then rounds of 4 envs x one
    500-step episode labelled by the shipped expert, 1000 BC updates each), evaluated after every round."""
    env, demos, _, refs = cartpole_demos(trajectories)
    clock = HitClock(seeds)
    trainer, config, hparams, _, _ = runs.build_trainer("dagger", env, expert=ENV)
    per_round = trainer.env_steps_per_step
    run, wall, rows = _timed_run(clock, env, refs, trainer, hparams, demos, seeds, rounds, 1, per_round,
                                 eval_episodes, seed)
    return _summary("jaxil", "dagger", seeds, seeds, rows, run.env_steps,
                    {"version": jaxil.__version__, "jax": jax.__version__, "device": jax.devices()[0].device_kind,
                     "rounds": rounds, "env_steps_per_round": per_round, "eval_every_env_steps": per_round,
                     "eval_s_excluded": clock.eval_s, "curve": clock.curve,
                     "settings": {"config": repr(config), "hparams": repr(hparams)}})


def _sb3_expert(env, obs_space, act_space):
    """jaxil's shipped cartpole expert (deterministic) as a stable-baselines3 policy, the expert
    type the imitation library's DAgger queries."""
    import torch
    from stable_baselines3.common import policies as sb3_policies

    spec, params = experts.load_expert(ENV, env)
    act = jax.jit(lambda obs: pol.mode(spec, params, obs))

    class JaxilExpert(sb3_policies.BasePolicy):
        def _predict(self, observation, deterministic: bool = False):
            return torch.as_tensor(np.asarray(act(observation.cpu().numpy().astype(np.float32))))

    return JaxilExpert(obs_space, act_space)


def imitation_dagger_one_seed(seed: int, rounds: int, per_round: int, trajectories: list, expert, spaces, refs,
                              eval_episodes: int, num_envs: int) -> dict:
    gym, sb3, torch, _, _, _, logger, _, util = _imitation_modules()
    from imitation.algorithms import bc as ibc, dagger as idagger
    from stable_baselines3.common import policies as sb3_policies

    obs_space, act_space = spaces
    clock = HitClock(1)
    torch.manual_seed(seed)
    # jaxil's DAgger network, batch, learning rate, envs and round size; imitation's other defaults.
    policy = sb3_policies.ActorCriticPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=[64, 64],
                                            activation_fn=torch.nn.Tanh)
    venv = util.make_vec_env(GYM_ENV, n_envs=num_envs, rng=np.random.default_rng(seed))
    with tempfile.TemporaryDirectory() as scratch:
        custom = logger.configure(scratch, format_strs=[])
        bc_trainer = ibc.BC(observation_space=obs_space, action_space=act_space, rng=np.random.default_rng(seed),
                            policy=policy, batch_size=256, optimizer_kwargs={"lr": 1e-3}, device="cpu",
                            custom_logger=custom)
        # beta = 0 from the first round on: the learner acts, the expert labels (jaxil's learner_after_first).
        trainer = idagger.SimpleDAggerTrainer(venv=venv, scratch_dir=scratch, expert_policy=expert,
                                              rng=np.random.default_rng(seed), expert_trajs=trajectories,
                                              bc_trainer=bc_trainer, beta_schedule=lambda round_num: 0.0,
                                              custom_logger=custom)
        eval_venv = util.make_vec_env(GYM_ENV, n_envs=N_ENVS, rng=np.random.default_rng(10_000 + seed))
        score = None
        for r in range(1, rounds + 1):
            trainer.train(per_round, rollout_round_min_episodes=1, rollout_round_min_timesteps=per_round,
                          bc_train_kwargs={"n_batches": 1000, "log_interval": 10**9, "progress_bar": False})
            score = clock.record(r * per_round, lambda: [_imitation_eval(trainer.policy, eval_venv, eval_episodes,
                                                                         refs)])[0]
    wall = clock.train_s()
    return {"wall_s": wall, "final_normalized": score, "time_to_0.9_s": clock.hit_s[0],
            "progress_to_0.9": clock.hit_steps[0], "eval_s_excluded": clock.eval_s, "curve": clock.curve,
            "env_steps": rounds * per_round}


def imitation_dagger(seeds: int, rounds: int, per_round: int, trajectories: int, eval_episodes: int,
                     torch_threads: int = 1, num_envs: int = 4) -> dict:
    """The imitation library's SimpleDAggerTrainer on CartPole-v1 with the same expert, demos and
    round size, ``seeds`` runs one after another."""
    try:
        gym, _, torch, _, types_module, *_ = _imitation_modules()
    except ImportError as e:
        return {"library": "imitation", "algo": "dagger", "env": ENV,
                "skipped": f"imitation library not installed ({e.name}); {INSTALL_HINT}"}
    import datasets
    import imitation

    datasets.disable_progress_bars()  # DAgger saves every round's demos through `datasets`, with a bar each
    torch.set_num_threads(torch_threads)
    env, _, demos_np, refs = cartpole_demos(trajectories)
    trajs = imitation_trajectories(demos_np, types_module)
    probe = gym.make(GYM_ENV)
    spaces = (probe.observation_space, probe.action_space)
    # The expert is the benchmark's, not the peer's: loaded and compiled once, off every seed's clock.
    expert = _sb3_expert(env, *spaces)
    expert.predict(np.zeros((num_envs, *spaces[0].shape), np.float32))  # compiles for the training batch
    rows = [imitation_dagger_one_seed(s, rounds, per_round, trajs, expert, spaces, refs, eval_episodes, num_envs)
            for s in range(seeds)]
    return _summary("imitation", "dagger", seeds, 1, rows, rows[0]["env_steps"],
                    {"version": imitation.__version__, "torch": torch.__version__, "torch_threads": torch_threads,
                     "eval_every_env_steps": per_round, "eval_s_excluded": sum(r["eval_s_excluded"] for r in rows),
                     "curve": [r["curve"] for r in rows],
                     "settings": {"trainer": "SimpleDAggerTrainer, beta 0 (learner acts, expert labels)",
                                  "policy": "ActorCriticPolicy MLP (64, 64) tanh", "batch_size": 256, "lr": 1e-3,
                                  "bc_updates_per_round": 1000, "env_steps_per_round": per_round,
                                  "n_envs": num_envs, "env": GYM_ENV}})


def dagger_cartpole(seeds=(1, 16), rounds: int = DAGGER_ROUNDS, quick: bool = False, imitation_seeds: int = 2,
                    trajectories: int = DAGGER_TRAJECTORIES, eval_episodes: int = 16, torch_threads: int = 1) -> dict:
    """DAgger on cartpole from ``trajectories`` demos, both libraries querying the same expert, evaluated
    after every round; the budget is ``rounds`` rounds of jaxil's round size in env steps."""
    rows = [jaxil_dagger(s, rounds, trajectories, eval_episodes) for s in seeds]
    per_round = rows[0]["env_steps_per_round"]
    peer = imitation_dagger(1 if quick else imitation_seeds, rounds, per_round, trajectories, eval_episodes,
                            torch_threads) if imitation_seeds else \
        {"library": "imitation", "algo": "dagger", "env": ENV, "skipped": "--imitation-seeds 0"}
    _ratios(rows, peer)
    return {"algo": "dagger", "env": ENV, "budget_env_steps": rounds * per_round, "trajectories": trajectories,
            "eval_episodes": eval_episodes, "eval_every": per_round, "jaxil": rows, "imitation": peer}


# ---- comparisons -----------------------------------------------------------------------------

def _ratios(rows: list[dict], peer: dict) -> None:
    """Per-seed time-to-0.9 ratio (peer / jaxil) on every jaxil row; ``>=`` when it is a lower bound."""
    if "skipped" in peer:
        return
    peer_exact = peer["per_seed_time_to_0.9_s"]
    peer_time = peer_exact if peer_exact is not None else peer["per_seed_time_to_0.9_lower_bound_s"]
    for r in rows:
        mine = r["per_seed_time_to_0.9_s"]
        if mine is None:
            r["speedup_time_to_0.9"], r["speedup_kind"] = None, "jaxil did not reach 0.9 on every seed"
        else:
            r["speedup_time_to_0.9"] = peer_time / mine
            r["speedup_kind"] = "exact" if peer_exact is not None else "lower bound (imitation did not reach 0.9)"
        r["score_at_least_peer"] = r["final_normalized_mean"] >= peer["final_normalized_mean"]


def earlier_peer(path: str, algo: str, budget: int, trajectories: int, eval_episodes: int) -> dict:
    """The imitation row of an earlier result file with the same task, budget, demos and evaluation.

    For an accelerator run of jaxil next to the peer measured on a CPU (where its
    PyTorch PPO on small MLPs runs fastest): the row keeps where it was measured.
    """
    with open(path) as f:
        earlier = json.load(f)
    for c in earlier["comparisons"]:
        if (c["algo"], c.get("budget_env_steps"), c["trajectories"], c["eval_episodes"]) == \
                (algo, budget, trajectories, eval_episodes) and "skipped" not in c["imitation"]:
            return {**c["imitation"], "measured_in": {"file": os.path.basename(path), "device": earlier["device"],
                                                      "cpu_count": earlier["cpu_count"]}}
    raise ValueError(f"{path} has no imitation {algo} row with budget {budget}, {trajectories} trajectories and "
                     f"{eval_episodes} evaluation episodes")


def adversarial_cartpole(algo: str, jaxil_seeds=(1, 16), imitation_seeds: int = 2, budget: int = DEFAULT_BUDGET,
                         trajectories: int = 20, eval_episodes: int = 16, torch_threads: int = 1,
                         peer_results: str | None = None) -> dict:
    rows = [jaxil_adversarial(algo, s, budget, trajectories, eval_episodes) for s in jaxil_seeds]
    if peer_results:
        peer = earlier_peer(peer_results, algo, budget, trajectories, eval_episodes)
    elif imitation_seeds:
        peer = imitation_adversarial(algo, imitation_seeds, budget, trajectories, eval_episodes, torch_threads)
    else:
        peer = {"library": "imitation", "algo": algo, "env": ENV, "skipped": "--imitation-seeds 0"}
    _ratios(rows, peer)
    return {"algo": algo, "env": ENV, "budget_env_steps": budget, "trajectories": trajectories,
            "eval_episodes": eval_episodes, "jaxil": rows, "imitation": peer}


def gail_cartpole(seeds=(1, 16), budget: int = DEFAULT_BUDGET, quick: bool = False, imitation_seeds: int = 2,
                  trajectories: int = 20) -> dict:
    """GAIL on cartpole, jaxil at ``seeds`` vmapped seeds vs ``imitation_seeds`` runs of the imitation library."""
    return adversarial_cartpole("gail", seeds, 1 if quick else imitation_seeds, QUICK_BUDGET if quick else budget,
                                trajectories)


def airl_cartpole(seeds=(1, 16), budget: int = DEFAULT_BUDGET, quick: bool = False, imitation_seeds: int = 2,
                  trajectories: int = 20) -> dict:
    """AIRL on cartpole, as :func:`gail_cartpole`."""
    return adversarial_cartpole("airl", seeds, 1 if quick else imitation_seeds, QUICK_BUDGET if quick else budget,
                                trajectories)


PEERS = {"gail": gail_cartpole, "airl": airl_cartpole, "bc": bc_cartpole, "dagger": dagger_cartpole}


# ---- report -------------------------------------------------------------------------------

def _fmt(v, spec=".2f", none="never"):
    return none if v is None else format(v, spec)


def _markdown(result: dict) -> str:
    earlier = any("measured_in" in c["imitation"] for c in result["comparisons"])
    lines = [f"# jaxil vs the imitation library ({result['date']}, {result.get('device_kind', result['device'])}, "
             f"{result['cpu_count']} cores)",
             "", "Same demos (jaxil's shipped cartpole expert demos), same budget (env steps; gradient updates for BC), "
             + ("the imitation rows from an earlier run (below). " if earlier else "both libraries in one run. ")
             + "Wall time end to end (trainer construction, initialisation, jaxil's compilation), evaluations "
             "excluded on both sides. jaxil's seeds run in one vmapped program (per seed = program time / seeds); "
             "the imitation library's run one after another"
             + (f" (jaxil's batch split over {result['jaxil_devices']} CPU devices, as `jaxil.loop.run` splits it; "
                "the imitation library on one torch thread)" if result.get("jaxil_devices") else "")
             + ". Normalised score: 0 = random policy "
             f"({result['refs'][0]:.1f}), 1 = expert ({result['refs'][1]:.0f}); deterministic policy, "
             "mean of the evaluation episodes.", ""]
    for c in result["comparisons"]:
        peer = c["imitation"]
        unit = "updates" if "budget_updates" in c else "env_steps"
        budget = c.get("budget_updates", c.get("budget_env_steps"))
        every = c.get("eval_every", BC_EVAL_EVERY if unit == "updates" else ROUND_STEPS)
        word = unit.replace("_", " ")
        lines += [f"## {c['algo'].upper()} on {c['env']}", "",
                  f"{budget} {'gradient ' if unit == 'updates' else ''}{word} per seed, {c['trajectories']} demo "
                  f"trajectories, evaluation every {every} {word} on {c['eval_episodes']} episodes.", "",
                  f"| library | seeds | wall s (end to end) | wall s per seed | {word}/s | seeds reaching 0.9 | "
                  "per-seed time to 0.9 s | final normalized mean (worst) | speedup per seed to 0.9 |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in [*c["jaxil"], peer]:
            if "skipped" in r:
                lines.append(f"| imitation | - | skipped: {r['skipped']} | | | | | | |")
                continue
            t = r["per_seed_time_to_0.9_s"]
            t_txt = _fmt(t, ".3f") if t is not None else f">= {r['per_seed_time_to_0.9_lower_bound_s']:.2f} (not all)"
            sp = r.get("speedup_time_to_0.9")
            sp_txt = "" if r["library"] != "jaxil" else \
                ("n/a" if sp is None else f"{'>= ' if r['speedup_kind'].startswith('lower') else ''}{sp:.1f}x")
            lines.append(f"| {r['library']} | {r['seeds']} | {r['wall_s_end_to_end']:.1f} | "
                         f"{r['wall_s_per_seed']:.2f} | {r[unit + '_per_s']:.0f} | "
                         f"{r['seeds_reaching_0.9']}/{r['seeds']} | {t_txt} | "
                         f"{r['final_normalized_mean']:.2f} ({r['final_normalized_worst']:.2f}) | {sp_txt} |")
        lines.append("")
        for r in [*c["jaxil"], peer]:
            if "skipped" in r:
                continue
            hits = [s for s in r[unit + "_to_0.9"] if s is not None]
            steps = ", ".join(_fmt(s, "d") for s in r[unit + "_to_0.9"]) if len(hits) <= 16 or len(hits) < r["seeds"] \
                else f"median {int(np.median(hits))}, max {max(hits)}"
            lines.append(f"- {r['library']} x{r['seeds']}: {word} to 0.9 per seed: {steps}; "
                         f"evaluation time excluded {r['eval_s_excluded']:.1f} s.")
        if "skipped" not in peer:
            lines.append(f"- imitation {peer['version']} (torch {peer['torch']}, {peer['torch_threads']} thread(s)) "
                         f"settings: {peer['settings']}.")
            if "measured_in" in peer:
                m = peer["measured_in"]
                lines.append(f"- The imitation row comes from {m['file']} (measured on {m['device']}, "
                             f"{m['cpu_count']} cores); jaxil's rows were measured in this run.")
        lines.append("")
    goal = result["goal"]
    parts = []
    for algo, m in goal["measured"].items():
        if m is None or m["speedup"] is None:
            parts.append(f"{algo} n/a")
        else:
            bound = ">= " if m["kind"].startswith("lower") else ""
            parts.append(f"{algo} {bound}{m['speedup']:.1f}x at {m['seeds']} seeds ({m['kind']}; final score at "
                         f"least the peer's: {'yes' if m['score_at_least_peer'] else 'no'})")
    lines += [f"Goal: >= {goal['target']:.0f}x less wall time per seed to 0.9 at >= 16 seeds, with final scores at "
              f"least as high, for GAIL and AIRL. Measured: {'; '.join(parts) or 'n/a (neither ran)'}. "
              f"Met: {goal['met']}.", ""]
    if result.get("note"):
        lines += [result["note"], ""]
    return "\n".join(lines)


def _goal(comparisons: list[dict], target: float = 100.0) -> dict:
    """The issue's goal, for the adversarial methods (GAIL, AIRL) only."""
    measured, met = {}, True
    for c in comparisons:
        if c["algo"] not in ("gail", "airl"):
            continue
        big = [r for r in c["jaxil"] if r["seeds"] >= 16]
        if not big or "skipped" in c["imitation"]:
            measured[c["algo"]], met = None, False
            continue
        r = max(big, key=lambda x: x["seeds"])
        sp = r.get("speedup_time_to_0.9")
        measured[c["algo"]] = {"seeds": r["seeds"], "speedup": sp, "kind": r.get("speedup_kind"),
                               "score_at_least_peer": r.get("score_at_least_peer")}
        met = met and sp is not None and sp >= target and bool(r.get("score_at_least_peer"))
    return {"name": "GAIL and AIRL: per-seed wall time to 0.9 normalized, imitation / jaxil, at >= 16 seeds",
            "target": target, "measured": measured, "met": met and bool(measured)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default="gail,airl")
    p.add_argument("--jaxil-seeds", default="1,16")
    p.add_argument("--imitation-seeds", type=int, default=2, help="runs of the imitation library per algorithm")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="env steps per seed")
    p.add_argument("--bc-updates", type=int, default=BC_UPDATES, help="BC's budget: gradient updates per seed")
    p.add_argument("--trajectories", type=int, default=20, help="demo trajectories (shipped cartpole has 20)")
    p.add_argument("--dagger-rounds", type=int, default=DAGGER_ROUNDS, help="DAgger's budget: rounds per seed")
    p.add_argument("--dagger-trajectories", type=int, default=DAGGER_TRAJECTORIES,
                   help="DAgger's demo trajectories (its round 0)")
    p.add_argument("--eval-episodes", type=int, default=16)
    p.add_argument("--torch-threads", type=int, default=1, help="torch threads of the imitation library")
    p.add_argument("--peer-results", default=None,
                   help="take the imitation rows from this earlier result JSON instead of running the library")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_BUDGET} env steps, 1 imitation seed")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--tag", default="", help="suffix of the result file names")
    p.add_argument("--note", default="", help="a sentence added to the markdown (e.g. the machine's load)")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="CPU devices for jaxil's runs (jaxil.set_cpu_device_count; default: one per core, as the "
                        "jaxil command and the benchmark suite run them)")
    args = p.parse_args(argv)
    jaxil.set_cpu_device_count(args.cpu_devices or None)  # before the first computation
    algos = args.algos.split(",")
    for a in algos:
        if a not in PEERS:
            raise ValueError(f"unknown algorithm {a!r}; choose from {sorted(PEERS)}")
    budget = QUICK_BUDGET if args.quick else args.budget
    peer_seeds = min(args.imitation_seeds, 1) if args.quick else args.imitation_seeds
    seeds = tuple(int(s) for s in args.jaxil_seeds.split(","))
    comparisons = [bc_cartpole(seeds, args.bc_updates, False, peer_seeds, args.trajectories, args.eval_episodes,
                               args.torch_threads) if a == "bc" else
                   dagger_cartpole(seeds, args.dagger_rounds, False, peer_seeds, args.dagger_trajectories,
                                   args.eval_episodes, args.torch_threads) if a == "dagger" else
                   adversarial_cartpole(a, seeds, peer_seeds, budget, args.trajectories, args.eval_episodes,
                                        args.torch_threads, args.peer_results) for a in algos]
    date = datetime.date.today().isoformat()
    device = jax.devices()[0].platform
    tag = "-".join(filter(None, ["quick" if args.quick else "", args.tag]))
    result = {"benchmark": "peers", "date": date, "device": device, "device_kind": jax.devices()[0].device_kind,
              "cpu_count": os.cpu_count(), "jaxil_devices": jax.local_device_count() if device == "cpu" else None,
              "platform": platform.platform(), "jax": jax.__version__,
              "refs": list(experts.reference_returns(ENV)), "threshold": THRESHOLD, "quick": args.quick,
              "comparisons": comparisons, "goal": _goal(comparisons), "note": args.note}
    stem = report.result_stem(args.out, "peers", date, tag)
    report.save_json(stem, result)
    print(report.save_markdown(stem, _markdown(result)))


if __name__ == "__main__":
    main()
