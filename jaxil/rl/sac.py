"""Soft actor-critic (Haarnoja et al. 2018), pure and vmappable.

Twin Q critics with Polyak-averaged targets and a learned entropy temperature, for
continuous actions (tanh-Gaussian policy). Split into named pieces so that SQIL,
IQ-Learn and adversarial methods reuse them instead of copying the loop:

- :func:`act`        — exploration action (uniform random during the warm-up);
- :func:`collect`    — ``train_freq`` steps of ``num_envs`` envs into the replay buffer;
- :func:`update`     — one gradient update on a given batch with given rewards;
- :func:`train_updates` — ``num_updates`` sampled-batch updates with ``reward_fn``
  (batches from replay, or from ``sample_fn``: SQIL mixes in demos);
- :func:`make_train` — the :class:`jaxil.loop.Trainer` (collect -> updates).

One trainer ``step`` is ``train_freq * num_envs`` env transitions followed by
``num_updates`` gradient updates, all inside the compiled step. Rewards go through
``reward_fn`` when a batch is sampled, so a learned reward that changes during
training is re-evaluated on old transitions. Only ``terminated`` cuts the bootstrap:
truncated transitions bootstrap from ``next_obs``, the true state the step reached.
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
from jaxil.rl.ppo import RewardFn, episode_metrics  # episode_metrics reads .transition / .episode_return
from jaxil.rl.replay import Buffer, buffer_add, buffer_init, buffer_sample, check_write_fits
from jaxil.types import Transition

PENDULUM_STEPS = 5_000
"""Trainer steps of the pendulum recipe with the default Config (20k env steps per seed)."""


@dataclasses.dataclass(frozen=True)
class Config:
    num_envs: int = 4
    """Parallel environments per run."""
    train_freq: int = 1
    """Steps of every env per trainer step (so num_envs * train_freq transitions)."""
    num_updates: int = 4
    """Gradient updates per trainer step (update-to-data ratio: num_updates / (num_envs * train_freq))."""
    buffer_size: int = 100_000
    """Replay capacity in transitions."""
    batch_size: int = 256
    """Transitions per gradient update."""
    learning_starts: int = 1_000
    """Env transitions collected with uniform random actions before updates start."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of actor and critics."""
    activation: str = "relu"
    """Hidden activation."""
    normalize_obs: bool = False
    """Running mean/std observation normalisation of actor and critic inputs."""
    target_entropy: float | None = None
    """Entropy the temperature steers the policy towards; None: -action_size."""

    def __post_init__(self):
        sizes = (self.num_envs, self.train_freq, self.num_updates, self.buffer_size, self.batch_size)
        if min(sizes) < 1:
            raise InputError(f"SAC sizes must be >= 1, got {self}")
        if self.learning_starts < 0:
            raise InputError(f"learning_starts must be >= 0, got {self.learning_starts}")
        check_write_fits(self.buffer_size, self.num_envs, self.train_freq)

    @property
    def env_steps_per_step(self) -> int:
        return self.num_envs * self.train_freq


class Hparams(NamedTuple):
    actor_lr: float = 1e-3
    """Adam learning rate of the policy."""
    critic_lr: float = 1e-3
    """Adam learning rate of the twin Q critics."""
    alpha_lr: float = 1e-3
    """Adam learning rate of log(alpha), the entropy temperature."""
    gamma: float = 0.99
    """Discount."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    init_alpha: float = 1.0
    """Initial entropy temperature."""
    reward_scale: float = 1.0
    """Multiplies the (env or reward_fn) reward in the Q target."""


class Params(NamedTuple):
    actor: dict  # {"actor", "obs_norm"}: a jaxil.policy params dict
    critic: dict  # twin Q heads
    target_critic: dict
    log_alpha: jax.Array  # [] entropy temperature, in log space to keep it positive


class OptStates(NamedTuple):
    actor: optax.OptState
    critic: optax.OptState
    alpha: optax.OptState


class Optimizers(NamedTuple):
    actor: optax.GradientTransformation
    critic: optax.GradientTransformation
    alpha: optax.GradientTransformation


class State(NamedTuple):
    params: Params
    opt: OptStates
    buffer: Buffer
    env_state: EnvState  # batched over num_envs
    key: jax.Array
    env_steps: jax.Array  # transitions collected so far (all envs)


class Rollout(NamedTuple):
    """``[train_freq, num_envs]`` leading axes."""

    transition: Transition
    episode_return: jax.Array  # completed return where the transition ended an episode


def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    if env.spec.discrete:
        raise InputError(f"SAC needs continuous actions; {env.spec.name!r} is discrete (use ppo)")
    return pol.PolicySpec(env.spec, "tanh_gaussian", tuple(config.hidden), config.activation)


def target_entropy(config: Config, env: Env) -> float:
    return -float(env.spec.action_size) if config.target_entropy is None else float(config.target_entropy)


def _critic(config: Config) -> nets.Critic:
    return nets.Critic(tuple(config.hidden), num=2, act=config.activation)


def _optimizers(hp: Hparams) -> Optimizers:
    # Built from traced Hparams inside the step: Adam's state does not depend on the
    # learning rate, so one compilation serves every value in a sweep.
    return Optimizers(optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.alpha_lr))


def q_values(config: Config, env: Env, params: Params, critic: dict, obs: jax.Array, action: jax.Array):
    """Twin Q(s, a) ``[2, B]`` for obs [B, obs_size], action [B, action_size].

    ``critic`` is ``params.critic`` or ``params.target_critic``. The critics see the
    policy's observation normalisation and actions rescaled to [-1, 1], so their
    inputs are O(1) whatever the env's action bounds.
    """
    return _critic(config).apply(critic, params.actor["obs_norm"](obs), env.spec.unit_actions(action))


def init(config: Config, env: Env, key: jax.Array, hp: Hparams) -> State:
    """Fresh networks (target critics = critics), an empty buffer and reset envs."""
    spec = policy_spec(config, env)
    key, k_actor, k_critic, k_env = jax.random.split(key, 4)
    obs = jnp.zeros((env.spec.obs_size,), jnp.float32)
    action = jnp.zeros((env.spec.action_size,), jnp.float32)
    critic = _critic(config).init(k_critic, obs, action)
    log_alpha = jnp.log(jnp.asarray(hp.init_alpha, jnp.float32))
    params = Params(spec.init(k_actor), critic, critic, log_alpha)
    txs = _optimizers(hp)
    opt = OptStates(txs.actor.init(params.actor["actor"]), txs.critic.init(critic), txs.alpha.init(log_alpha))
    false = jnp.zeros((), jnp.bool_)
    example = Transition(obs, action, obs, jnp.zeros((), jnp.float32), false, false)
    env_state = jax.vmap(env.reset)(jax.random.split(k_env, config.num_envs))
    return State(params, opt, buffer_init(example, config.buffer_size), env_state, key, jnp.zeros((), jnp.int32))


def act(config: Config, env: Env, params: Params, obs: jax.Array, key: jax.Array, env_steps: jax.Array):
    """Exploration actions [N, action_size] for obs [N, obs_size].

    Uniform over the action box while fewer than ``learning_starts`` transitions have
    been collected (the critic has nothing to say yet), then a policy sample.
    """
    k_pi, k_rand = jax.random.split(key)
    sampled, _ = pol.sample(policy_spec(config, env), params.actor, obs, k_pi)
    low, high = env.spec.action_bounds()
    uniform = jax.random.uniform(k_rand, sampled.shape, minval=low, maxval=high)
    return jnp.where(env_steps < config.learning_starts, uniform, sampled)


def collect(config: Config, env: Env, state: State) -> tuple[State, Rollout]:
    """Steps the ``num_envs`` envs ``train_freq`` times and adds the transitions to the buffer."""
    step_env = jax.vmap(env.step)

    def one_step(carry, k):
        env_state, steps = carry
        action = act(config, env, state.params, env_state.obs, k, steps)
        nxt = step_env(env_state, action)
        tr = Transition(env_state.obs, action, nxt.next_obs, nxt.reward, nxt.terminated, nxt.truncated)
        return (nxt, steps + config.num_envs), Rollout(tr, nxt.episode_return)

    key, k_roll = jax.random.split(state.key)
    carry = (state.env_state, state.env_steps)
    (env_state, steps), traj = jax.lax.scan(one_step, carry, jax.random.split(k_roll, config.train_freq))
    flat = jax.tree.map(lambda x: x.reshape(config.env_steps_per_step, *x.shape[2:]), traj.transition)
    params = state.params
    if config.normalize_obs:
        # Raw observations are stored; the stats only affect network inputs, so old
        # transitions are re-normalised with the current stats when sampled.
        params = params._replace(actor={**params.actor, "obs_norm": params.actor["obs_norm"].update(flat.obs)})
    state = state._replace(params=params, buffer=buffer_add(state.buffer, flat), env_state=env_state,
                           key=key, env_steps=steps)
    return state, traj


def soft_q_target(reward, terminated, next_q1, next_q2, next_log_prob, alpha, gamma):
    """y = r + gamma (1 - terminated) (min(Q1', Q2') - alpha log pi(a'|s')); all [B].

    Truncated transitions bootstrap like any other: the time limit is not part of the
    MDP, and ``next_obs`` is the true state the step reached.
    """
    soft_value = jnp.minimum(next_q1, next_q2) - alpha * next_log_prob
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * soft_value


def td_target(config: Config, env: Env, params: Params, batch: Transition, reward: jax.Array, hp: Hparams,
              key: jax.Array) -> jax.Array:
    """Soft Q target [B] for ``batch`` with ``reward`` [B] (scaled by ``hp.reward_scale``).

    a' ~ pi(.|next_obs) and the target critics give the soft value of ``next_obs``;
    ``batch.truncated`` is deliberately ignored (see :func:`soft_q_target`).
    """
    next_action, next_logp = pol.sample(policy_spec(config, env), params.actor, batch.next_obs, key)
    next_q = q_values(config, env, params, params.target_critic, batch.next_obs, next_action)
    alpha = jnp.exp(params.log_alpha)
    return soft_q_target(reward * hp.reward_scale, batch.terminated, next_q[0], next_q[1], next_logp, alpha, hp.gamma)


def critic_loss(q: jax.Array, target: jax.Array) -> jax.Array:
    """Half squared TD error summed over the Q heads: q [2, B], target [B] -> []."""
    return 0.5 * jnp.mean(jnp.sum((q - target) ** 2, 0))


def actor_loss(log_prob: jax.Array, q: jax.Array, alpha: jax.Array) -> jax.Array:
    """E[alpha log pi(a|s) - min_i Q_i(s, a)], a ~ pi: log_prob [B], q [2, B] -> []."""
    return jnp.mean(alpha * log_prob - jnp.min(q, 0))


def alpha_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float) -> jax.Array:
    """-log_alpha E[log pi + target_entropy]: raises alpha while entropy is below target."""
    return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_prob) + target_entropy)


def _descend(tx, loss_fn, params, opt_state):
    """One optimiser step on ``loss_fn(params) -> (loss, aux)``."""
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, aux


def update(config: Config, env: Env, state: State, batch: Transition, reward: jax.Array, hp: Hparams):
    """One update of critics, actor and temperature on ``batch`` (leaves [B, ...]).

    ``reward`` [B] replaces ``batch.reward`` (scaled by ``hp.reward_scale``). Returns
    ``(state, metrics)``; the buffer and env state are untouched.
    """
    spec = policy_spec(config, env)
    p, txs = state.params, _optimizers(hp)
    key, k_next, k_pi = jax.random.split(state.key, 3)
    alpha = jnp.exp(p.log_alpha)
    y = td_target(config, env, p, batch, reward, hp, k_next)

    def critic_objective(c):
        q = q_values(config, env, p, c, batch.obs, batch.action)
        return critic_loss(q, y), q.mean()

    critic, c_opt, c_loss, q_mean = _descend(txs.critic, critic_objective, p.critic, state.opt.critic)

    def actor_objective(a):
        action, logp = pol.sample(spec, {**p.actor, "actor": a}, batch.obs, k_pi)
        return actor_loss(logp, q_values(config, env, p, critic, batch.obs, action), alpha), logp

    actor, a_opt, a_loss, logp = _descend(txs.actor, actor_objective, p.actor["actor"], state.opt.actor)

    def alpha_objective(log_alpha):
        return alpha_loss(log_alpha, logp, target_entropy(config, env)), None

    log_alpha, t_opt, _, _ = _descend(txs.alpha, alpha_objective, p.log_alpha, state.opt.alpha)

    target = optax.incremental_update(critic, p.target_critic, hp.tau)
    params = Params({**p.actor, "actor": actor}, critic, target, log_alpha)
    metrics = {"critic_loss": c_loss, "actor_loss": a_loss, "alpha": alpha, "q": q_mean, "entropy": -logp.mean()}
    return state._replace(params=params, opt=OptStates(a_opt, c_opt, t_opt), key=key), metrics


def batch_reward(batch: Transition, reward_fn: RewardFn | None) -> jax.Array:
    """The reward [B] to learn from: ``reward_fn`` of the batch, or the env reward."""
    if reward_fn is None:
        return batch.reward
    return reward_fn(batch.obs, batch.action, batch.next_obs, batch.reward)


def train_updates(config: Config, env: Env, state: State, hp: Hparams, reward_fn: RewardFn | None = None,
                  batch_reward_fn: Callable[[Transition], jax.Array] | None = None,
                  sample_fn: Callable[[Buffer, jax.Array], Transition] | None = None):
    """``num_updates`` updates on uniformly sampled batches; metrics are their means.

    ``batch_reward_fn(batch) -> [B]``, when given, computes the reward from the whole
    sampled Transition (a learned reward that needs ``terminated``, as AIRL's does);
    otherwise ``reward_fn`` or the env reward is used.

    ``sample_fn(buffer, key) -> batch``, when given, replaces the uniform replay
    sample: SQIL draws part of every batch from the demos, with its own rewards in
    ``batch.reward``. The batch may have any size.

    Until ``learning_starts`` transitions exist the updates are computed and
    discarded (their metrics still come back): under ``vmap`` a ``cond`` would
    evaluate both branches anyway.
    """
    ready = state.env_steps >= config.learning_starts

    def one_update(s, _):
        key, k_batch = jax.random.split(s.key)
        if sample_fn is None:
            batch = buffer_sample(s.buffer, k_batch, config.batch_size)
        else:
            batch = sample_fn(s.buffer, k_batch)
        reward = batch_reward_fn(batch) if batch_reward_fn is not None else batch_reward(batch, reward_fn)
        new, metrics = update(config, env, s._replace(key=key), batch, reward, hp)
        # Select only what update changes: a select over the buffer would copy it.
        params, opt = jax.tree.map(lambda a, b: jnp.where(ready, a, b), (new.params, new.opt), (s.params, s.opt))
        return s._replace(params=params, opt=opt, key=new.key), metrics  # the key update() left unused

    state, metrics = jax.lax.scan(one_update, state, None, length=config.num_updates)
    return state, jax.tree.map(jnp.mean, metrics)


def make_train(config: Config, env: Env, reward_fn: RewardFn | None = None) -> Trainer:
    """SAC as a :class:`Trainer`; ``reward_fn`` replaces the env reward when given.

    The trainer ignores its ``demos`` argument (it is there so RL and imitation
    trainers share one driver).
    """
    spec = policy_spec(config, env)  # fails early on discrete envs

    def init_fn(key, demos, hp):
        return init(config, env, key, hp)

    def step_fn(state, demos, hp):
        state, traj = collect(config, env, state)
        state, metrics = train_updates(config, env, state, hp, reward_fn)
        return state, {**metrics, **episode_metrics(traj)}

    def policy_fn(state):
        return state.params.actor

    return Trainer(init_fn, step_fn, policy_fn, spec, config.env_steps_per_step)
