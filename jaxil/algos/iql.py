"""Implicit Q-learning (Kostrikov, Nair & Levine 2022): offline RL from a fixed dataset.

IQL never evaluates Q on an action outside the dataset. Each update, on a batch of
dataset transitions (s, a, r, s'):

- V(s) regresses on min_i Q'_i(s, a) (target critics) with the expectile loss
  ``|tau - 1(u < 0)| u^2``, u = Q' - V: with tau > 0.5 V approaches the best
  in-distribution action's value rather than the dataset policy's average;
- Q_i(s, a) regresses on r + gamma (1 - terminated) V(s') (twin heads);
- the policy is advantage-weighted regression: maximise
  ``min(exp(beta (Q'(s, a) - V(s))), max_weight) log pi(a | s)``, cloning the
  dataset's actions in proportion to how much better than V they are;
- the target critics follow Q by Polyak averaging.

Continuous actions use a Gaussian policy (state-independent std, clipped mean at
evaluation); discrete actions a categorical one (Q sees the action one-hot). Fully
offline: a trainer ``step`` is ``updates_per_step`` updates and no env step; the
dataset is ``Demos`` with rewards, passed to ``init``/``step`` as an argument.
Only ``terminated`` cuts the bootstrap: truncated episodes bootstrap from the true
``next_obs``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import nets, policy as pol
from jaxil.algos import bc, offpolicy as op
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Demos, Transition

POLICY_KINDS = ("auto", "categorical", "gaussian", "tanh_gaussian")


@dataclasses.dataclass(frozen=True)
class Config:
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer sizes of the actor, the twin Q critics and V."""
    activation: str = "relu"
    """Hidden activation."""
    policy_kind: str = "auto"
    """categorical | gaussian | tanh_gaussian; auto: categorical or gaussian."""
    batch_size: int = 256
    """Dataset transitions per update."""
    updates_per_step: int = 100
    """Gradient updates per trainer step (one step = one logged point)."""
    normalize_obs: bool = True
    """Standardise every network's observations with the dataset's mean and variance."""

    def __post_init__(self):
        if self.policy_kind not in POLICY_KINDS:
            raise InputError(f"unknown IQL policy_kind {self.policy_kind!r}; choose one of {POLICY_KINDS}")
        if self.batch_size < 1 or self.updates_per_step < 1:
            raise InputError(f"IQL batch_size and updates_per_step must be >= 1, got {self}")


class Hparams(NamedTuple):
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    """Polyak rate of the target critics."""
    expectile: float = 0.7
    """tau of the value loss, in (0, 1): 0.5 is the mean (SARSA), towards 1 the max."""
    beta: float = 3.0
    """Inverse temperature of the advantage weights: 0 is BC, large is greedy."""
    max_weight: float = 100.0
    """Clip of exp(beta * advantage), so one transition cannot dominate a batch."""
    reward_scale: float = 1.0
    """Multiplies the dataset reward in the Q target."""


class Params(NamedTuple):
    actor: dict  # {"actor", "obs_norm"}: a jaxil.policy params dict
    critic: dict  # twin Q heads
    target_critic: dict
    value: dict


class OptStates(NamedTuple):
    actor: optax.OptState
    critic: optax.OptState
    value: optax.OptState


class State(NamedTuple):
    params: Params
    opt: OptStates
    key: jax.Array
    step: jax.Array


# ---- losses: plain functions of arrays ---------------------------------------------

def expectile_loss(diff: jax.Array, expectile) -> jax.Array:
    """mean(|expectile - 1(diff < 0)| diff^2): diff [B] = target - prediction -> []."""
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return jnp.mean(weight * diff**2)


def q_target(reward: jax.Array, terminated: jax.Array, next_value: jax.Array, gamma) -> jax.Array:
    """r + gamma (1 - terminated) V(s'); all [B]."""
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def q_loss(q: jax.Array, target: jax.Array) -> jax.Array:
    """Squared TD error summed over heads, mean over the batch: q [2, B], target [B] -> []."""
    return jnp.mean(jnp.sum((q - target) ** 2, 0))


def awr_weights(advantage: jax.Array, beta, max_weight) -> jax.Array:
    """min(exp(beta * advantage), max_weight) [B]; computed in the log domain so a
    large advantage clips instead of overflowing."""
    return jnp.exp(jnp.minimum(beta * advantage, jnp.log(max_weight)))


def awr_loss(log_prob: jax.Array, weights: jax.Array) -> jax.Array:
    """-mean(weights * log pi(a|s)); weights [B] are constants (no gradient)."""
    return -jnp.mean(jax.lax.stop_gradient(weights) * log_prob)


# ---- networks ------------------------------------------------------------------------

def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    kind = config.policy_kind
    if kind == "auto":
        kind = pol.PolicySpec.default_kind(env.spec, "gaussian")
    if (kind == "categorical") != env.spec.discrete:
        raise InputError(f"IQL policy_kind {kind!r} does not fit env {env.spec.name!r} "
                         f"({'discrete' if env.spec.discrete else 'continuous'} actions)")
    return pol.PolicySpec(env.spec, kind, tuple(config.hidden), config.activation)


def _q_net(config: Config) -> nets.Critic:
    return nets.Critic(tuple(config.hidden), num=2, act=config.activation)


def _v_net(config: Config) -> nets.Critic:
    return nets.Critic(tuple(config.hidden), num=1, act=config.activation)


def q_values(config: Config, env: Env, params: Params, critic: dict, obs, action) -> jax.Array:
    """Twin Q(s, a) ``[2, B]`` (``critic``: params.critic or params.target_critic)."""
    return _q_net(config).apply(critic, params.actor["obs_norm"](obs), op.action_features(env.spec, action))


def values(config: Config, params: Params, value: dict, obs) -> jax.Array:
    """V(s) ``[B]``."""
    return _v_net(config).apply(value, params.actor["obs_norm"](obs))


def _optimizers(hp: Hparams):
    # Built from traced Hparams: Adam's state does not depend on the learning rate.
    return optax.adam(hp.actor_lr), optax.adam(hp.critic_lr), optax.adam(hp.value_lr)


def init(config: Config, env: Env, key: jax.Array, demos: Demos, hp: Hparams) -> State:
    spec = policy_spec(config, env)
    key, k_actor, k_q, k_v = jax.random.split(key, 4)
    actor = spec.init(k_actor)
    if config.normalize_obs:
        actor["obs_norm"] = bc.demo_obs_norm(demos)
    obs = jnp.zeros((env.spec.obs_size,), jnp.float32)
    feat = jnp.zeros((env.spec.action_size,), jnp.float32)
    critic = _q_net(config).init(k_q, obs, feat)
    value = _v_net(config).init(k_v, obs)
    params = Params(actor, critic, critic, value)
    tx_a, tx_q, tx_v = _optimizers(hp)
    opt = OptStates(tx_a.init(actor["actor"]), tx_q.init(critic), tx_v.init(value))
    return State(params, opt, key, jnp.zeros((), jnp.int32))


# ---- one update ------------------------------------------------------------------

def _descend(tx, loss_fn, params, opt_state):
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, aux


def update(config: Config, env: Env, state: State, batch: Transition, hp: Hparams):
    """One IQL update on ``batch`` (leaves [B, ...]): V, then the actor, then Q, then targets."""
    spec = policy_spec(config, env)
    p = state.params
    tx_a, tx_q, tx_v = _optimizers(hp)
    target_q = jnp.min(q_values(config, env, p, p.target_critic, batch.obs, batch.action), 0)

    def value_objective(v):
        pred = values(config, p, v, batch.obs)
        return expectile_loss(target_q - pred, hp.expectile), pred.mean()

    value, v_opt, v_loss, v_mean = _descend(tx_v, value_objective, p.value, state.opt.value)

    advantage = target_q - values(config, p, value, batch.obs)
    weights = awr_weights(advantage, hp.beta, hp.max_weight)

    def actor_objective(a):
        return awr_loss(pol.log_prob(spec, {**p.actor, "actor": a}, batch.obs, batch.action), weights), None

    actor, a_opt, a_loss, _ = _descend(tx_a, actor_objective, p.actor["actor"], state.opt.actor)

    next_v = values(config, p, value, batch.next_obs)
    y = q_target(batch.reward * hp.reward_scale, batch.terminated, next_v, hp.gamma)

    def critic_objective(c):
        q = q_values(config, env, p, c, batch.obs, batch.action)
        return q_loss(q, y), q.mean()

    critic, q_opt, c_loss, q_mean = _descend(tx_q, critic_objective, p.critic, state.opt.critic)

    target = optax.incremental_update(critic, p.target_critic, hp.tau)
    params = Params({**p.actor, "actor": actor}, critic, target, value)
    metrics = {"value_loss": v_loss, "critic_loss": c_loss, "actor_loss": a_loss, "v": v_mean, "q": q_mean,
               "advantage": advantage.mean(), "weight": weights.mean()}
    return state._replace(params=params, opt=OptStates(a_opt, q_opt, v_opt)), metrics


def sample_batch(demos: Demos, key: jax.Array, batch_size: int) -> Transition:
    """``batch_size`` real (``mask == 1``) transitions drawn uniformly with replacement."""
    idx = jax.random.choice(key, demos.mask.shape[0], (batch_size,), p=demos.mask / demos.mask.sum())
    return jax.tree.map(lambda x: x[idx], demos.transitions())


def make_train(config: Config, env: Env) -> Trainer:
    """IQL as an offline :class:`Trainer`; ``demos`` must carry the env's rewards."""
    spec = policy_spec(config, env)  # fails early on a kind that does not fit the env

    def init_fn(key, demos: Demos, hp: Hparams) -> State:
        return init(config, env, key, demos, hp)

    def step_fn(state: State, demos: Demos, hp: Hparams):
        def one_update(s, k):
            batch = sample_batch(demos, k, config.batch_size)
            return update(config, env, s, batch, hp)

        key, k_upd = jax.random.split(state.key)
        state, metrics = jax.lax.scan(one_update, state, jax.random.split(k_upd, config.updates_per_step))
        return state._replace(key=key, step=state.step + 1), jax.tree.map(jnp.mean, metrics)

    def policy_fn(state: State):
        return state.params.actor

    return Trainer(init_fn, step_fn, policy_fn, spec, 0)
