"""Proximal policy optimisation (Schulman et al. 2017), pure and vmappable.

Split into named pieces so that adversarial imitation (GAIL, AIRL) reuses them with
its own rewards instead of copying the loop:

- :func:`rollout`  — ``num_steps`` vectorised env steps with the current policy;
- :func:`update`   — GAE on the given rewards + clipped-surrogate epochs;
- :func:`make_train` — the :class:`jaxil.loop.Trainer` (rollout -> reward_fn -> update).

Bootstrapping uses the true next observation (``EnvState.next_obs``): on truncation
the value of the state the time limit cut off is added, on termination nothing is.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import nets, policy as pol
from jaxil.envs import Env, EnvState
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Transition

RewardFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
"""``reward_fn(obs, action, next_obs, env_reward) -> reward``, all with leading batch axes."""


@dataclasses.dataclass(frozen=True)
class Config:
    num_envs: int = 8
    """Parallel environments per run."""
    num_steps: int = 128
    """Rollout length per env per iteration."""
    num_minibatches: int = 4
    """Minibatches per epoch; must divide num_envs * num_steps."""
    update_epochs: int = 4
    """Passes over each rollout."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of actor and critic."""
    activation: str = "tanh"
    """Hidden activation."""
    policy_kind: str = "auto"
    """categorical | gaussian | tanh_gaussian; auto picks categorical or gaussian."""
    normalize_obs: bool = True
    """Running mean/std observation normalisation (stats saved with the policy)."""
    anneal_lr_steps: int = 0
    """Iterations over which the learning rate decays linearly to 0 (0: constant)."""

    def __post_init__(self):
        batch = self.num_envs * self.num_steps
        if min(self.num_envs, self.num_steps, self.num_minibatches, self.update_epochs) < 1:
            raise InputError(f"PPO sizes must be >= 1, got {self}")
        if batch % self.num_minibatches:
            raise InputError(
                f"num_minibatches={self.num_minibatches} must divide num_envs*num_steps={batch}"
            )

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


class Hparams(NamedTuple):
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 1.0


class State(NamedTuple):
    params: dict  # {"actor", "critic", "obs_norm"}
    opt_state: optax.OptState
    env_state: EnvState  # batched over num_envs
    key: jax.Array
    iteration: jax.Array


class Rollout(NamedTuple):
    """``[num_steps, num_envs]`` leading axes."""

    transition: Transition
    log_prob: jax.Array
    value: jax.Array
    episode_return: jax.Array  # completed return where transition ended an episode


def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    kind = pol.PolicySpec.default_kind(env.spec) if config.policy_kind == "auto" else config.policy_kind
    return pol.PolicySpec(env.spec, kind, tuple(config.hidden), config.activation)


def _critic(config: Config) -> nets.Critic:
    return nets.Critic(tuple(config.hidden), act=config.activation)


def _optimizer(config: Config, hp: Hparams) -> optax.GradientTransformation:
    # Built from traced Hparams inside the step: the optimizer *state* does not
    # depend on them, so one compilation serves every learning rate in a sweep.
    if config.anneal_lr_steps:
        updates_per_iter = config.update_epochs * config.num_minibatches
        total = config.anneal_lr_steps * updates_per_iter
        lr = lambda count: hp.lr * jnp.maximum(1.0 - count / total, 0.0)
    else:
        lr = hp.lr
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), optax.adam(lr, eps=1e-5))


def init(config: Config, env: Env, key: jax.Array, hp: Hparams) -> State:
    spec = policy_spec(config, env)
    key, k_actor, k_critic, k_env = jax.random.split(key, 4)
    params = spec.init(k_actor)
    params["critic"] = _critic(config).init(k_critic, jnp.zeros((env.spec.obs_size,)))
    env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    opt_state = _optimizer(config, hp).init(params)
    return State(params, opt_state, env_state, key, jnp.zeros((), jnp.int32))


def value(config: Config, params: dict, obs: jax.Array) -> jax.Array:
    return _critic(config).apply(params["critic"], params["obs_norm"](obs))


def rollout(config: Config, env: Env, state: State) -> tuple[State, Rollout]:
    """Steps ``num_envs`` envs ``num_steps`` times with the sampling policy."""
    spec = policy_spec(config, env)
    step_env = jax.vmap(env.step)

    def one_step(carry, k):
        env_state = carry
        action, logp = pol.sample(spec, state.params, env_state.obs, k)
        v = value(config, state.params, env_state.obs)
        nxt = step_env(env_state, action)
        tr = Transition(env_state.obs, action, nxt.next_obs, nxt.reward, nxt.terminated, nxt.truncated)
        return nxt, Rollout(tr, logp, v, nxt.episode_return)

    key, k_roll = jax.random.split(state.key)
    env_state, traj = jax.lax.scan(one_step, state.env_state, jax.random.split(k_roll, config.num_steps))
    return state._replace(env_state=env_state, key=key), traj


def gae(reward, value, next_value, terminated, done, gamma, lam):
    """Generalised advantage estimation over ``[T, ...]`` arrays.

    ``next_value`` is V at the true next state; ``terminated`` zeroes the bootstrap,
    ``done`` (terminated or truncated) cuts the recursion. Returns (advantage, target).
    """
    not_term = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    delta = reward + gamma * not_term * next_value - value

    def back(adv_next, x):
        d, nd = x
        adv = d + gamma * lam * nd * adv_next
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, not_done), reverse=True)
    return adv, adv + value


def ppo_loss(config: Config, spec: pol.PolicySpec, params, batch, hp: Hparams):
    """Clipped surrogate + clipped value loss - entropy bonus; returns (loss, aux)."""
    obs, action, old_logp, old_value, adv, target = batch
    out = pol.dist_params(spec, params, obs)  # one actor call: one backward pass through it
    logp = pol.dist_log_prob(spec, out, action)
    entropy = pol.dist_entropy(spec, out)
    ratio = jnp.exp(logp - old_logp)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - hp.clip_eps, 1 + hp.clip_eps) * adv)
    v = value(config, params, obs)
    v_clipped = old_value + jnp.clip(v - old_value, -hp.clip_eps, hp.clip_eps)
    v_loss = 0.5 * jnp.maximum((v - target) ** 2, (v_clipped - target) ** 2).mean()
    pi_loss = -surrogate.mean()
    ent = entropy.mean()
    loss = pi_loss + hp.vf_coef * v_loss - hp.ent_coef * ent
    approx_kl = ((ratio - 1) - (logp - old_logp)).mean()
    return loss, {"policy_loss": pi_loss, "value_loss": v_loss, "entropy": ent, "approx_kl": approx_kl}


def update(config: Config, env: Env, state: State, traj: Rollout, reward: jax.Array, hp: Hparams):
    """PPO epochs on ``traj`` with ``reward`` [T, N] in place of the env reward."""
    spec = policy_spec(config, env)
    tr = traj.transition
    next_value = value(config, state.params, tr.next_obs)
    done = jnp.logical_or(tr.terminated, tr.truncated)
    adv, target = gae(reward * hp.reward_scale, traj.value, next_value, tr.terminated, done, hp.gamma, hp.gae_lambda)
    flat = jax.tree.map(
        lambda x: x.reshape(config.batch_size, *x.shape[2:]),
        (tr.obs, tr.action, traj.log_prob, traj.value, adv, target),
    )
    tx = _optimizer(config, hp)
    grad_fn = jax.grad(lambda p, b: ppo_loss(config, spec, p, b, hp), has_aux=True)
    mb_size = config.batch_size // config.num_minibatches

    def minibatch(carry, idx):
        params, opt_state = carry
        grads, aux = grad_fn(params, jax.tree.map(lambda x: x[idx], flat))
        grads["obs_norm"] = jax.tree.map(jnp.zeros_like, grads["obs_norm"])  # stats are not learned
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def epoch(carry, k):
        perm = jax.random.permutation(k, config.batch_size).reshape(config.num_minibatches, mb_size)
        return jax.lax.scan(minibatch, carry, perm)

    key, k_epochs = jax.random.split(state.key)
    (params, opt_state), aux = jax.lax.scan(
        epoch, (state.params, state.opt_state), jax.random.split(k_epochs, config.update_epochs)
    )
    if config.normalize_obs:
        # Stats change only after the update, so rollout and update see the same
        # normalisation and the stored log-probs stay exact.
        params["obs_norm"] = params["obs_norm"].update(tr.obs)
    state = state._replace(params=params, opt_state=opt_state, key=key, iteration=state.iteration + 1)
    return state, jax.tree.map(jnp.mean, aux)


def episode_metrics(traj: Rollout) -> dict:
    """Mean return of the episodes that ended during the rollout (NaN if none did)."""
    done = jnp.logical_or(traj.transition.terminated, traj.transition.truncated)
    n = done.sum()
    mean = jnp.where(n > 0, jnp.sum(traj.episode_return * done) / jnp.maximum(n, 1), jnp.nan)
    return {"episode_return": mean, "episodes": n}


def make_train(config: Config, env: Env, reward_fn: RewardFn | None = None) -> Trainer:
    """PPO as a :class:`Trainer`; ``reward_fn`` replaces the env reward when given.

    The trainer ignores its ``demos`` argument (it is there so RL and imitation
    trainers share one driver).
    """

    def init_fn(key, demos, hp):
        return init(config, env, key, hp)

    def step_fn(state, demos, hp):
        state, traj = rollout(config, env, state)
        tr = traj.transition
        reward = tr.reward if reward_fn is None else reward_fn(tr.obs, tr.action, tr.next_obs, tr.reward)
        state, metrics = update(config, env, state, traj, reward, hp)
        return state, {**metrics, **episode_metrics(traj)}

    def policy_fn(state):
        return {"actor": state.params["actor"], "obs_norm": state.params["obs_norm"]}

    return Trainer(init_fn, step_fn, policy_fn, policy_spec(config, env), config.batch_size)
