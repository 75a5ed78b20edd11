"""Soft actor-critic (Haarnoja et al. 2018): twin Q, target networks, learned temperature.

Pure and vmappable. One trainer ``step`` = ``rollout_steps`` steps of ``num_envs``
envs into the replay buffer, then ``num_updates`` gradient updates. The reward of
sampled batches goes through ``reward_fn`` at update time, so a learned reward that
changes during training (SQIL, adversarial methods) is always re-evaluated.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import nets, policy as pol
from jaxil.envs import Env, EnvState
from jaxil.loop import Trainer
from jaxil.rl.ppo import RewardFn
from jaxil.rl.replay import Buffer, buffer_add, buffer_init, buffer_sample
from jaxil.types import Transition

PENDULUM_STEPS = 5_000  # trainer steps of the pendulum recipe (x num_envs env steps)


@dataclasses.dataclass(frozen=True)
class Config:
    num_envs: int = 4
    """Parallel environments per run."""
    rollout_steps: int = 1
    """Env steps (of every env) per trainer step."""
    num_updates: int = 2
    """Gradient updates per trainer step."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    batch_size: int = 256
    """Transitions per gradient update."""
    learning_starts: int = 1_000
    """Env transitions of uniform random actions before learning starts."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden sizes of actor and critics."""
    activation: str = "relu"
    """Hidden activation."""
    target_entropy: float | None = None
    """Entropy target of the temperature; None: -action_size."""

    def __post_init__(self):
        if min(self.num_envs, self.rollout_steps, self.num_updates, self.batch_size, self.buffer_size) < 1:
            raise ValueError(f"SAC sizes must be >= 1, got {self}")


class Hparams(NamedTuple):
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    alpha_lr: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.005
    init_alpha: float = 1.0
    reward_scale: float = 1.0


class Params(NamedTuple):
    actor: dict  # {"actor", "obs_norm"}: a jaxil.policy params dict
    critic: dict
    target_critic: dict
    log_alpha: jax.Array


class OptStates(NamedTuple):
    actor: optax.OptState
    critic: optax.OptState
    alpha: optax.OptState


class State(NamedTuple):
    params: Params
    opt: OptStates
    buffer: Buffer
    env_state: EnvState
    key: jax.Array
    env_steps: jax.Array


def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    if env.spec.discrete:
        raise ValueError(f"SAC needs continuous actions; {env.spec.name!r} is discrete (use ppo)")
    return pol.PolicySpec(env.spec, "tanh_gaussian", tuple(config.hidden), config.activation)


def _critic(config: Config) -> nets.Critic:
    return nets.Critic(tuple(config.hidden), num=2, act=config.activation)


def _txs(hp: Hparams):
    return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr)


def init(config: Config, env: Env, key: jax.Array, hp: Hparams) -> State:
    spec = policy_spec(config, env)
    key, k_actor, k_critic, k_env = jax.random.split(key, 4)
    obs = jnp.zeros((env.spec.obs_size,))
    act = jnp.zeros((env.spec.action_size,))
    critic = _critic(config).init(k_critic, obs, act)
    params = Params(spec.init(k_actor), critic, critic, jnp.log(jnp.asarray(hp.init_alpha, jnp.float32)))
    tx_a, tx_c, tx_t = _txs(hp)
    opt = OptStates(tx_a.init(params.actor["actor"]), tx_c.init(critic), tx_t.init(params.log_alpha))
    false = jnp.zeros((), jnp.bool_)
    example = Transition(obs, act, obs, jnp.zeros(()), false, false)
    env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    return State(params, opt, buffer_init(example, config.buffer_size), env_state, key, jnp.zeros((), jnp.int32))


def collect(config: Config, env: Env, state: State) -> tuple[State, jax.Array]:
    """``rollout_steps`` vectorised env steps into the buffer; uniform random actions
    until ``learning_starts`` transitions exist. Returns completed-episode returns
    (NaN where no episode ended) of shape ``[rollout_steps, num_envs]``."""
    spec = policy_spec(config, env)
    low, high = jnp.asarray(env.spec.action_low), jnp.asarray(env.spec.action_high)

    def one(carry, k):
        env_state, buf, steps = carry
        k_pi, k_rand = jax.random.split(k)
        policy_action, _ = pol.sample(spec, state.params.actor, env_state.obs, k_pi)
        random_action = jax.random.uniform(k_rand, policy_action.shape, minval=low, maxval=high)
        action = jnp.where(steps < config.learning_starts, random_action, policy_action)
        nxt = jax.vmap(env.step)(env_state, action)
        buf = buffer_add(buf, Transition(env_state.obs, action, nxt.next_obs, nxt.reward, nxt.terminated, nxt.truncated))
        ended = jnp.where(nxt.done, nxt.episode_return, jnp.nan)
        return (nxt, buf, steps + config.num_envs), ended

    key, k_roll = jax.random.split(state.key)
    carry = (state.env_state, state.buffer, state.env_steps)
    (env_state, buf, steps), ended = jax.lax.scan(one, carry, jax.random.split(k_roll, config.rollout_steps))
    return state._replace(env_state=env_state, buffer=buf, env_steps=steps, key=key), ended


def soft_q_target(reward, terminated, next_q1, next_q2, next_log_prob, alpha, gamma):
    """y = r + gamma (1 - terminated) (min(Q1', Q2') - alpha log pi(a'|s')); all [B].

    Truncated transitions bootstrap like any other: the time limit is not part of the
    MDP, and ``next_obs`` is the true state the step reached.
    """
    soft_v = jnp.minimum(next_q1, next_q2) - alpha * next_log_prob
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * soft_v


def update(config: Config, env: Env, state: State, batch: Transition, reward: jax.Array, hp: Hparams):
    """One gradient update of critics, actor and temperature on ``batch`` with ``reward`` [B]."""
    spec = policy_spec(config, env)
    critic = _critic(config)
    p = state.params
    tx_a, tx_c, tx_t = _txs(hp)
    target_entropy = -float(env.spec.action_size) if config.target_entropy is None else config.target_entropy
    key, k_next, k_pi = jax.random.split(state.key, 3)
    alpha = jnp.exp(p.log_alpha)

    next_action, next_logp = pol.sample(spec, p.actor, batch.next_obs, k_next)
    next_q = critic.apply(p.target_critic, batch.next_obs, next_action)
    y = jax.lax.stop_gradient(
        soft_q_target(reward * hp.reward_scale, batch.terminated, next_q[0], next_q[1], next_logp, alpha, hp.gamma))

    def critic_loss(c):
        q = critic.apply(c, batch.obs, batch.action)
        return 0.5 * jnp.mean(jnp.sum((q - y) ** 2, 0)), q.mean()

    (c_loss, q_mean), c_grads = jax.value_and_grad(critic_loss, has_aux=True)(p.critic)
    c_upd, c_opt = tx_c.update(c_grads, state.opt.critic, p.critic)
    new_critic = optax.apply_updates(p.critic, c_upd)

    def actor_loss(a):
        action, logp = pol.sample(spec, {**p.actor, "actor": a}, batch.obs, k_pi)
        q = critic.apply(new_critic, batch.obs, action)
        return jnp.mean(alpha * logp - jnp.min(q, 0)), logp

    (a_loss, logp), a_grads = jax.value_and_grad(actor_loss, has_aux=True)(p.actor["actor"])
    a_upd, a_opt = tx_a.update(a_grads, state.opt.actor, p.actor["actor"])
    new_actor = {**p.actor, "actor": optax.apply_updates(p.actor["actor"], a_upd)}

    entropy_gap = jax.lax.stop_gradient(logp + target_entropy).mean()
    t_grad = -entropy_gap  # d/d log_alpha of -log_alpha * (logp + target)
    t_upd, t_opt = tx_t.update(t_grad, state.opt.alpha, p.log_alpha)
    new_log_alpha = optax.apply_updates(p.log_alpha, t_upd)

    target = optax.incremental_update(new_critic, p.target_critic, hp.tau)
    params = Params(new_actor, new_critic, target, new_log_alpha)
    metrics = {"critic_loss": c_loss, "actor_loss": a_loss, "alpha": alpha, "q": q_mean, "entropy": -logp.mean()}
    return state._replace(params=params, opt=OptStates(a_opt, c_opt, t_opt), key=key), metrics


def make_train(config: Config, env: Env, reward_fn: RewardFn | None = None) -> Trainer:
    """SAC as a :class:`Trainer`; ``reward_fn`` replaces the env reward when given."""

    def init_fn(key, demos, hp):
        return init(config, env, key, hp)

    def step_fn(state, demos, hp):
        state, ended = collect(config, env, state)

        def one_update(s, _):
            key, k_batch = jax.random.split(s.key)
            batch = buffer_sample(s.buffer, k_batch, config.batch_size)
            reward = batch.reward if reward_fn is None else reward_fn(batch.obs, batch.action, batch.next_obs, batch.reward)
            new, metrics = update(config, env, s._replace(key=key), batch, reward, hp)
            # Before learning starts the update is computed but discarded: under vmap a
            # branch would compute both sides anyway.
            ready = s.env_steps >= config.learning_starts
            return jax.tree.map(lambda a, b: jnp.where(ready, a, b), new, s._replace(key=key)), metrics

        state, metrics = jax.lax.scan(one_update, state, None, length=config.num_updates)
        n = jnp.sum(jnp.isfinite(ended))
        ret = jnp.where(n > 0, jnp.nansum(ended) / jnp.maximum(n, 1), jnp.nan)
        return state, {**jax.tree.map(lambda x: x[-1], metrics), "episode_return": ret, "episodes": n}

    def policy_fn(state):
        return state.params.actor

    return Trainer(init_fn, step_fn, policy_fn, policy_spec(config, env), config.num_envs * config.rollout_steps)
