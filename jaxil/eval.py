"""Vmapped evaluation episodes, the normalised score, and env steps to a target score."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs import Env
from jaxil.errors import InputError

ActFn = Callable[[object, jax.Array, jax.Array], jax.Array]


def evaluate(env: Env, act: ActFn, params, key: jax.Array, num_episodes: int) -> jax.Array:
    """Returns of the first episode of ``num_episodes`` parallel envs: ``[num_episodes]``.

    Pure and jit-able; vmap it over params and keys to evaluate many seeds at once.
    Every env runs ``max_episode_steps`` steps; rewards after its first episode ended
    are masked, so the returned values are exact episode returns.
    """
    k_reset, k_act = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))

    def one_step(carry, k):
        state, alive, ret = carry
        action = act(params, state.obs, k)
        state = jax.vmap(env.step)(state, action)
        ret = ret + alive * state.reward
        alive = alive * (1.0 - state.done)
        return (state, alive, ret), None

    carry = (state, jnp.ones(num_episodes), jnp.zeros(num_episodes))
    keys = jax.random.split(k_act, env.spec.max_episode_steps)
    (_, _, ret), _ = jax.lax.scan(one_step, carry, keys)
    return ret


def normalized_score(ret, random_return: float, expert_return: float):
    """(R - R_random) / (R_expert - R_random): 0 for a random policy, 1 for the expert."""
    if expert_return == random_return:
        raise InputError(f"expert and random returns are equal ({expert_return}); cannot normalise")
    return (ret - random_return) / (expert_return - random_return)


def random_act(spec) -> ActFn:
    """Uniform random policy over the env's action space (used for R_random)."""
    if spec.discrete:
        return lambda params, obs, key: jax.random.randint(key, obs.shape[:-1], 0, spec.action_size)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    return lambda params, obs, key: jax.random.uniform(key, (*obs.shape[:-1], spec.action_size), minval=low, maxval=high)


def with_random_actions(act: ActFn, spec, eps) -> ActFn:
    """``act`` whose action is replaced by a uniformly random one with probability ``eps``.

    Used as a controlled per-step error (e.g. BC vs DAgger at the same error rate)
    and for exploration; ``eps`` may be traced.
    """
    rand = random_act(spec)

    def noisy(params, obs, key):
        k_act, k_rand, k_coin = jax.random.split(key, 3)
        action = act(params, obs, k_act)
        flip = jax.random.uniform(k_coin, obs.shape[:-1]) < eps
        flip = flip.reshape(*flip.shape, *([1] * (action.ndim - flip.ndim)))
        return jnp.where(flip, rand(None, obs, k_rand).astype(action.dtype), action)

    return noisy


def first_reaching(steps, curve, target: float) -> list[int | None]:
    """Per run, the first of ``steps`` [E] whose score in ``curve`` [E, runs] is >= ``target``
    (None if never)."""
    steps, curve = np.asarray(steps), np.asarray(curve)
    return [int(steps[hit[0]]) if (hit := np.flatnonzero(col >= target)).size else None for col in curve.T]


def censored_median(reach: list) -> float:
    """Median of :func:`first_reaching`'s values over runs, a run that never reached the target
    (None) counting as inf: finite only when at least half the runs reached it."""
    return float(np.median([np.inf if x is None else x for x in reach]))
