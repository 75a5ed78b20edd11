"""IQ-Learn (Garg et al. 2021): inverse soft-Q learning.

One soft Q function stands for both the reward and the policy: with the soft value
V(s) = E_{a ~ pi}[Q(s, a) - T log pi(a|s)] (T the entropy temperature), the implied
reward is r(s, a, s') = Q(s, a) - gamma V(s'). Q *minimises* (the paper maximises
its negative) the chi^2-regularised inverse objective

- online (the paper's default)::

    L = -E_{d^E}[r] + E_{mix}[V(s) - gamma V(s')] + 1/(4 c) E_{mix}[r^2]

  where ``mix`` is the union of an expert batch and a replay batch, and c is
  :attr:`Hparams.div_coef` (the chi^2 regulariser on both, as the paper does online).
  The paper's code runs Hopper, Walker2d and Humanoid in another form, which
  ``Config(value_term="v0", target_network=True, chi2_policy_actions=True)`` selects::

    L = -E_{d^E}[r] + (1 - gamma) E_{p0}[V(s0)] + 1/(4 c) E_{mix}[r^2]

  with V(s') in r read from a Polyak-averaged copy of Q (:attr:`Hparams.tau`,
  no gradient), p0 from :attr:`Config.initial_states` (the expert's states by
  default), and the replay rows of the chi^2 term taken at the policy's action,
  Q(s, a ~ pi(s)) - gamma V(s'), instead of the replay action;
- offline (the paper's expert-only variant)::

    L = -E_{d^E}[r] + (1 - gamma) E_{p0}[V(s0)] + 1/(4 c) E_{d^E}[r^2]

  with p0 the distribution of expert states (as the paper's code does).

``terminated`` transitions have V(s') = 0, or lead to absorbing states
(:attr:`Config.absorbing`, see :mod:`jaxil.algos.offpolicy`).

Policies: discrete actions use the soft-Q policy pi = softmax(Q / T) itself (the
Trainer's categorical policy is Q's network with its last layer divided by T);
continuous actions a SAC-style tanh-Gaussian actor minimising E[T log pi - Q] on the
batch's states, with V estimated by one sample of it.

Modes (:attr:`Config.offline`): online, ``demos`` are the expert's Demos and the
trainer steps the env into a replay buffer; offline, ``demos`` are the expert's Demos
and nothing else (no env, no other data: ``env_steps_per_step = 0``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import nets, policy as pol
from jaxil.algos import offpolicy as op
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Transition

State = op.State
VALUE_TERMS = ("value", "v0")


@dataclasses.dataclass(frozen=True)
class Config(op.Config):
    """IQ-Learn: the shared off-policy fields; done masks by default, as the paper."""

    absorbing: bool = False
    """Absorbing states at terminations; False (the paper's): V(s') = 0 after a termination."""
    normalize_obs: bool = False
    """Standardise observations with the expert's statistics (see the shared Config); False,
    as the paper's code."""
    value_term: str = "value"
    """Online only, the loss's value term: ``value``, E_{mix}[V(s) - gamma V(s')] (the paper's
    online default, its HalfCheetah and Ant runs); ``v0``, (1 - gamma) E_{p0}[V(s0)] with p0
    from ``initial_states`` (its Hopper, Walker2d and Humanoid runs). Offline is always ``v0``."""
    target_network: bool = False
    """Read V(s') from a Polyak-averaged copy of Q (rate :attr:`Hparams.tau`), without a
    gradient through it, as the paper's MuJoCo runs do; False: from Q itself, with a gradient."""
    chi2_policy_actions: bool = False
    """Online: take the replay rows of the chi^2 regulariser at the policy's action,
    Q(s, a ~ pi(s)) - gamma V(s') (the paper's code); False: at the replay action."""

    def __post_init__(self):
        super().__post_init__()
        if self.value_term not in VALUE_TERMS:
            raise InputError(f"unknown value_term {self.value_term!r}; choose one of {VALUE_TERMS}")
        if self.offline and self.chi2_policy_actions:
            raise InputError("chi2_policy_actions=True needs replay rows, which offline IQ-Learn does not have")


class Hparams(NamedTuple):
    critic_lr: float = 3e-4
    """Adam learning rate of Q (the paper's 3e-4)."""
    actor_lr: float = 3e-5
    """Adam learning rate of the continuous actor (the paper's 3e-5)."""
    gamma: float = 0.99
    """Discount."""
    temperature: float = 0.01
    """Entropy temperature T of the soft value and policy (the paper's 0.01); fixed during a
    run, read once by ``init`` (the discrete policy's params depend on it)."""
    div_coef: float = 0.5
    """c of the chi^2 regulariser 1/(4c) E[r^2] (the paper's alpha = 0.5)."""
    tau: float = 0.005
    """Polyak rate of the target copy of Q (``Config.target_network``; the paper's 0.005)."""


class Params(NamedTuple):
    q: dict
    actor: dict | None  # continuous: a jaxil.policy params dict; discrete: None (the policy is Q's)
    q_opt: optax.OptState
    actor_opt: optax.OptState | None
    temperature: jax.Array  # [] hp.temperature at init: the discrete policy softmax(Q / T) needs it
    obs_norm: pol.ObsNorm  # fixed: standardises Q's (and the policy's) observations
    q_target: dict | None = None  # the Polyak copy of q (Config.target_network), else None


# ---- losses (plain functions of arrays) ----------------------------------------------

def implied_reward(q, v_next, terminated, gamma):
    """r = Q(s, a) - gamma (1 - terminated) V(s'); all [B]."""
    return q - gamma * (1.0 - terminated.astype(jnp.float32)) * v_next


def iq_loss_online(expert: tuple, replay: tuple, gamma, div_coef, v0: jax.Array | None = None):
    """The online inverse soft-Q loss Q minimises; returns ``(loss [], metrics)``.

    ``expert`` and ``replay`` are ``(q, v, v_next, terminated)`` tuples of [B] arrays:
    Q(s, a), V(s), V(s') and the termination flags of each batch::

        L = -mean_E(r) + mean_{E u R}(V(s) - gamma V(s')) + mean_{E u R}(r^2) / (4 c)

    With ``v0`` [B0], the values V(s0) of initial states, the value term is
    (1 - gamma) mean(v0) instead (``Config.value_term="v0"``). The replay's ``q`` enters
    only the chi^2 term (and the replay_reward metric).
    """
    r = [implied_reward(q, v_next, t, gamma) for q, _, v_next, t in (expert, replay)]
    expert_term = -jnp.mean(r[0])
    if v0 is None:
        v_diff = [v - gamma * (1.0 - t.astype(jnp.float32)) * v_next for _, v, v_next, t in (expert, replay)]
        value_term = jnp.mean(jnp.concatenate(v_diff))
    else:
        value_term = (1 - gamma) * jnp.mean(v0)
    chi2 = jnp.mean(jnp.concatenate(r) ** 2) / (4 * div_coef)
    loss = expert_term + value_term + chi2
    return loss, {"expert_reward": jnp.mean(r[0]), "replay_reward": jnp.mean(r[1]), "value_term": value_term,
                  "chi2": chi2}


def iq_loss_offline(expert: tuple, v0: jax.Array, gamma, div_coef):
    """The offline (expert-only) loss; ``expert = (q, v, v_next, terminated)``, [B] each, and
    ``v0`` [B0] the values V(s0) of initial states::

        L = -mean(r) + (1 - gamma) mean(V(s0)) + mean(r^2) / (4 c)
    """
    q, _, v_next, terminated = expert
    r = implied_reward(q, v_next, terminated, gamma)
    value_term = (1 - gamma) * jnp.mean(v0)
    chi2 = jnp.mean(r**2) / (4 * div_coef)
    return -jnp.mean(r) + value_term + chi2, {"expert_reward": jnp.mean(r), "value_term": value_term, "chi2": chi2}


def soft_value_discrete(q_all: jax.Array, temperature) -> jax.Array:
    """V(s) = T logsumexp(Q(s, .) / T): q_all [B, A] -> [B]."""
    return temperature * jax.nn.logsumexp(q_all / temperature, -1)


# ---- networks ------------------------------------------------------------------------

def policy_spec(config: Config, env: Env) -> pol.PolicySpec:
    kind = "categorical" if env.spec.discrete else "tanh_gaussian"
    return pol.PolicySpec(env.spec, kind, tuple(config.hidden), config.activation, config.obs_clip)


def _q_net(config: Config, env: Env):
    if env.spec.discrete:
        # The categorical actor's architecture, so Q's params convert into its logits' params.
        return nets.Actor(tuple(config.hidden), env.spec.action_size, "categorical", config.activation)
    return nets.MLP(tuple(config.hidden), 1, config.activation)


def soft_q_policy(q_params: dict, temperature, absorbing: bool) -> dict:
    """The actor params of softmax(Q / T) from a discrete Q network's params.

    The last layer is divided by T; with absorbing states the first layer's row for
    the indicator coordinate is dropped (it is 0 in every env state).
    """
    layers = dict(q_params["params"]["MLP_0"])
    names = sorted(layers, key=lambda n: int(n.split("_")[1]))
    first, last = names[0], names[-1]
    if absorbing:
        layers[first] = {**layers[first], "kernel": layers[first]["kernel"][:-1]}
    layers[last] = jax.tree.map(lambda w: w / temperature, layers[last])
    return {"params": {"MLP_0": layers}}


class Values(NamedTuple):
    """Q and V of one batch, the inputs of the losses; [B] each."""

    q: jax.Array
    v: jax.Array
    v_next: jax.Array
    terminated: jax.Array


def q_all_actions(config: Config, env: Env, q_params, norm: pol.ObsNorm, obs: jax.Array) -> jax.Array:
    """Q(s, .) [B, A] of a discrete Q network; raw observations (augmented when absorbing)."""
    return _q_net(config, env).apply(q_params, op.normalize_obs(norm, obs, config.absorbing, config.obs_clip))


def q_value(config: Config, env: Env, q_params, norm: pol.ObsNorm, obs: jax.Array, action: jax.Array) -> jax.Array:
    """Q(s, a) [B] of raw observations (augmented when absorbing; Q sees them standardised
    by ``norm``) and env actions."""
    net = _q_net(config, env)
    if env.spec.discrete:
        q_all = q_all_actions(config, env, q_params, norm, obs)
        return jnp.take_along_axis(q_all, action[:, None].astype(jnp.int32), -1)[:, 0]
    x = op.state_action_input(op.normalize_obs(norm, obs, config.absorbing, config.obs_clip),
                              op.action_features(env.spec, action), config.absorbing)
    return net.apply(q_params, x)[..., 0]


def state_value(config: Config, env: Env, q_params, norm: pol.ObsNorm, actor: dict | None, obs: jax.Array,
                temperature, key):
    """The soft value V(s) [B]: exact for discrete actions, one policy sample otherwise."""
    if env.spec.discrete:
        return soft_value_discrete(q_all_actions(config, env, q_params, norm, obs), temperature)
    action, logp = pol.sample(policy_spec(config, env), actor, op.env_obs(obs, config.absorbing), key)
    action, logp = jax.lax.stop_gradient((action, logp))  # V's gradient here is Q's only
    return q_value(config, env, q_params, norm, obs, action) - temperature * logp


def batch_values(config: Config, env: Env, q_params, norm: pol.ObsNorm, actor: dict | None, batch: Transition,
                 temperature, key, next_q_params=None, policy_action: bool = False) -> Values:
    """Q(s, a), V(s), V(s') of a batch under the current policy.

    ``next_q_params``: V(s') from these params without a gradient (a target copy of Q),
    else from ``q_params``. ``policy_action``: Q at a sample of the policy at s instead of
    the batch's action (continuous actions; discrete: E_{a ~ pi}[Q(s, a)] exactly); the
    policy's choice carries no gradient into Q."""
    k_now, k_next, k_action = jax.random.split(key, 3)
    v = lambda params, obs, k: state_value(config, env, params, norm, actor, obs, temperature, k)
    if next_q_params is None:
        v_next = v(q_params, batch.next_obs, k_next)
    else:
        v_next = jax.lax.stop_gradient(v(next_q_params, batch.next_obs, k_next))
    if not policy_action:
        q = q_value(config, env, q_params, norm, batch.obs, batch.action)
    elif env.spec.discrete:
        q_all = q_all_actions(config, env, q_params, norm, batch.obs)
        q = jnp.sum(jax.lax.stop_gradient(jax.nn.softmax(q_all / temperature, -1)) * q_all, -1)
    else:
        action, _ = jax.lax.stop_gradient(pol.sample(policy_spec(config, env), actor,
                                                     op.env_obs(batch.obs, config.absorbing),
                                                     k_action))
        q = q_value(config, env, q_params, norm, batch.obs, action)
    return Values(q, v(q_params, batch.obs, k_now), v_next, batch.terminated)


# ---- update ----------------------------------------------------------------------------

def learner(config: Config, env: Env) -> op.Learner:
    spec = policy_spec(config, env)
    net = _q_net(config, env)
    q_input = env.spec.obs_size + int(config.absorbing) + (0 if env.spec.discrete else env.spec.action_size)

    def init(key, hp: Hparams, obs_norm: pol.ObsNorm) -> Params:
        k_q, k_pi = jax.random.split(key)
        q = net.init(k_q, jnp.zeros(q_input))
        temperature = jnp.asarray(hp.temperature, jnp.float32)
        target = q if config.target_network else None
        if env.spec.discrete:
            return Params(q, None, optax.adam(hp.critic_lr).init(q), None, temperature, obs_norm, target)
        actor = {**spec.init(k_pi), "obs_norm": obs_norm}
        return Params(q, actor, optax.adam(hp.critic_lr).init(q), optax.adam(hp.actor_lr).init(actor["actor"]),
                      temperature, obs_norm, target)

    def critic_loss(q_params, params: Params, expert, replay, init_obs, hp: Hparams, key):
        k_e, k_r, k_0 = jax.random.split(key, 3)
        norm = params.obs_norm
        values = lambda batch, k, **kw: batch_values(config, env, q_params, norm, params.actor, batch,
                                                     params.temperature, k, next_q_params=params.q_target, **kw)
        e = values(expert, k_e)
        v0 = None
        if replay is None or config.value_term == "v0":
            v0 = state_value(config, env, q_params, norm, params.actor, init_obs, params.temperature, k_0)
        if replay is None:
            return iq_loss_offline(tuple(e), v0, hp.gamma, hp.div_coef)
        r = values(replay, k_r, policy_action=config.chi2_policy_actions)
        return iq_loss_online(tuple(e), tuple(r), hp.gamma, hp.div_coef, v0)

    def actor_update(params: Params, q_params, obs, hp: Hparams, key):
        def loss(actor):
            pi = {**params.actor, "actor": actor}
            action, logp = pol.sample(spec, pi, op.env_obs(obs, config.absorbing), key)
            x = op.state_action_input(op.normalize_obs(params.obs_norm, obs, config.absorbing, config.obs_clip),
                                      op.action_features(env.spec, action), config.absorbing)
            per_row = params.temperature * logp - net.apply(q_params, x)[..., 0]
            return (op.mean_over_env_states(per_row, obs, config.absorbing),
                    op.mean_over_env_states(-logp, obs, config.absorbing))

        (value, entropy), grads = jax.value_and_grad(loss, has_aux=True)(params.actor["actor"])
        actor, opt = op.adam_step(hp.actor_lr, grads, params.actor_opt, params.actor["actor"])
        return {**params.actor, "actor": actor}, opt, {"actor_loss": value, "entropy": entropy}

    def update(params: Params, expert: Transition, replay: Transition | None, init_obs, key, hp: Hparams):
        k_q, k_pi = jax.random.split(key)
        (loss, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(params.q, params, expert, replay,
                                                                               init_obs, hp, k_q)
        q, q_opt = op.adam_step(hp.critic_lr, grads, params.q_opt, params.q)
        metrics = {"iq_loss": loss, **metrics}
        if config.target_network:  # one Polyak step towards the updated Q
            params = params._replace(q_target=optax.incremental_update(q, params.q_target, hp.tau))
        if env.spec.discrete:
            return params._replace(q=q, q_opt=q_opt), metrics
        obs = expert.obs if replay is None else jnp.concatenate([expert.obs, replay.obs])
        actor, actor_opt, actor_metrics = actor_update(params, q, obs, hp, k_pi)
        return params._replace(q=q, actor=actor, q_opt=q_opt, actor_opt=actor_opt), {**metrics, **actor_metrics}

    def policy(params: Params):
        if not env.spec.discrete:
            return params.actor
        return {"actor": soft_q_policy(params.q, params.temperature, config.absorbing),
                "obs_norm": params.obs_norm}

    return op.Learner(spec, init, update, policy)


def make_train(config: Config, env: Env) -> Trainer:
    """IQ-Learn as a Trainer; ``demos`` are the expert's Demos in both modes."""
    return op.make_trainer(config, env, learner(config, env), "IQ-Learn", offline_pair=False)
