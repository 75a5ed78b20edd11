"""Expert recipes: which RL algorithm and settings train a reliable expert per env.

``train_experts`` runs a recipe over vmapped seeds, evaluates every seed, and saves
the best seed's policy and demonstrations. ``scripts/make_assets.py`` uses it to
regenerate the experts and demos shipped inside the package.
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from jaxil import envs, eval as ev, loop, policy as pol
from jaxil.errors import InputError
from jaxil.rl import ALGOS, ppo


class Recipe(NamedTuple):
    algo: str
    config: Any
    hparams: Any
    num_steps: int  # trainer steps (iterations)
    chunk_steps: int
    demo_episodes: int = 50


def _ppo_recipe(num_steps: int, **cfg) -> Recipe:
    # purejaxrl's CartPole settings; observation normalisation is off because the
    # drifting statistics destabilised 2 of 8 cartpole seeds late in training.
    config = ppo.Config(num_envs=4, num_steps=128, anneal_lr_steps=num_steps, **cfg)
    return Recipe("ppo", config, ppo.Hparams(lr=2.5e-4, ent_coef=0.01), num_steps, num_steps // 8)


def _brax_ppo_recipe(num_steps: int) -> Recipe:
    config = ppo.Config(num_envs=64, num_steps=32, num_minibatches=8, update_epochs=4,
                        hidden=(128, 128), activation="silu", anneal_lr_steps=num_steps)
    return Recipe("ppo", config, ppo.Hparams(lr=3e-4, gamma=0.97, reward_scale=0.1, ent_coef=1e-3),
                  num_steps, num_steps // 10, demo_episodes=16)


def _recipes() -> dict[str, Callable[[], Recipe]]:
    recipes: dict[str, Callable[[], Recipe]] = {
        "cartpole": lambda: _ppo_recipe(976, normalize_obs=False),  # 500k env steps
        "acrobot": lambda: _ppo_recipe(976),
    }
    if "sac" in ALGOS:
        sac = ALGOS["sac"]
        recipes["pendulum"] = lambda: Recipe("sac", sac.Config(), sac.Hparams(), sac.PENDULUM_STEPS, sac.PENDULUM_STEPS // 10)
        recipes["mountaincar_continuous"] = recipes["pendulum"]
        recipes["point_maze"] = recipes["pendulum"]  # SAC, 20k env steps
    for name in envs.BRAX_TASKS:
        recipes[name] = lambda: _brax_ppo_recipe(3000)  # hopper: 6.1M env steps, 104 s for 8 seeds on an H100
    return recipes


def recipe(env_name: str) -> Recipe:
    recipes = _recipes()
    if env_name not in recipes:
        raise InputError(f"no expert recipe for env {env_name!r}; known: {sorted(recipes)}")
    return recipes[env_name]()


def make_trainer(rec: Recipe, env) -> loop.Trainer:
    return ALGOS[rec.algo].make_train(rec.config, env)


def evaluate_seeds(env, trainer: loop.Trainer, states, key, num_episodes: int = 32) -> np.ndarray:
    """Deterministic-policy returns ``[seeds, num_episodes]`` of every run in ``states``."""
    act = pol.make_act(trainer.policy_spec)
    params = jax.vmap(trainer.policy)(states)
    seeds = jax.tree.leaves(params)[0].shape[0]
    fn = jax.jit(jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, num_episodes)))
    return np.asarray(fn(params, jax.random.split(key, seeds)))


def random_return(env, key, num_episodes: int = 64) -> float:
    act = ev.random_act(env.spec)
    return float(jax.jit(lambda k: ev.evaluate(env, act, None, k, num_episodes))(key).mean())


def take_run(tree, i: int):
    return jax.tree.map(lambda x: x[i], tree)


class ExpertResult(NamedTuple):
    returns: np.ndarray  # [seeds] evaluation means
    best_seed: int
    spec: pol.PolicySpec
    params: Any  # best seed's policy params
    random_return: float
    run: loop.RunResult
    recipe: Recipe


def train_experts(env_name: str, num_seeds: int, seed: int = 0, num_steps: int | None = None,
                  on_chunk=None, env_options: dict | None = None) -> ExpertResult:
    env = envs.make(env_name, **(env_options or {}))
    rec = recipe(env_name)
    if num_steps is not None:
        rec = with_steps(rec, num_steps)
    trainer = make_trainer(rec, env)
    key = jax.random.PRNGKey(seed)
    k_train, k_eval, k_rand = jax.random.split(key, 3)
    run = loop.run(trainer, jax.random.split(k_train, num_seeds), rec.hparams, rec.num_steps,
                   chunk_steps=rec.chunk_steps, on_chunk=on_chunk)
    returns = evaluate_seeds(env, trainer, run.state, k_eval).mean(1)
    best = int(np.argmax(returns))
    params = trainer.policy(take_run(run.state, best))
    return ExpertResult(returns, best, trainer.policy_spec, params, random_return(env, k_rand), run, rec)


def with_steps(rec: Recipe, num_steps: int) -> Recipe:
    """The recipe run for ``num_steps`` iterations, with a chunk size that divides it."""
    if num_steps < 1:
        raise InputError(f"steps must be >= 1, got {num_steps}")
    chunk = max(1, min(rec.chunk_steps, num_steps))
    while num_steps % chunk:
        chunk -= 1
    return rec._replace(num_steps=num_steps, chunk_steps=chunk)


# ---- shipped experts and demos ---------------------------------------------------

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
SHIPPED = ("cartpole", "pendulum", "hopper")


def shipped_dir(name: str) -> str:
    return os.path.join(ASSETS_DIR, name)


def resolve_demos(path_or_name: str) -> str:
    """``cartpole`` / ``pendulum`` name the shipped datasets; anything else is a path."""
    if path_or_name in SHIPPED and not os.path.exists(path_or_name):
        return os.path.join(shipped_dir(path_or_name), "demos.npz")
    return path_or_name


def resolve_expert(path_or_name: str) -> str:
    """``cartpole`` / ``pendulum`` name the shipped expert policies; anything else is a directory."""
    if path_or_name in SHIPPED and not os.path.exists(path_or_name):
        return shipped_dir(path_or_name)
    return path_or_name


def load_expert(path_or_name: str, env) -> tuple[pol.PolicySpec, Any]:
    """A saved expert policy, checked against ``env`` (same name, sizes, action type)."""
    from jaxil import data

    path = resolve_expert(path_or_name)
    spec, params, _ = pol.load_policy(path)
    data.check_env(spec.env, env.spec, where=f"expert {path_or_name!r}")
    return spec, params


def reference_returns(env_name: str) -> tuple[float, float] | None:
    """(random, expert) returns of the shipped expert for ``env_name``, if one ships."""
    path = os.path.join(shipped_dir(env_name), "demos.npz")
    if not os.path.exists(path):
        return None
    from jaxil import data

    _, meta = data.load_demos(path)
    if meta.expert_return is None or meta.random_return is None:
        return None
    return meta.random_return, meta.expert_return


def normalize(env_name: str, returns) -> np.ndarray | None:
    ref = reference_returns(env_name)
    return None if ref is None else np.asarray(ev.normalized_score(np.asarray(returns), *ref))


def collect_expert_demos(env_name, spec: pol.PolicySpec, params, episodes: int, key, expert_return,
                         random_return, source: str, env_options: dict | None = None):
    """Records ``episodes`` deterministic-policy episodes as (Demos, DemosMeta)."""
    from jaxil import data

    env = envs.make(env_name, **(env_options or {}))
    demos, returns = data.collect(env, pol.make_act(spec), params, key, episodes)
    meta = data.DemosMeta(env=env.spec, returns=tuple(float(r) for r in returns), source=source,
                          expert_return=None if expert_return is None else float(expert_return),
                          random_return=None if random_return is None else float(random_return))
    return demos, meta
