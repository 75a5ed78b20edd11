"""The adversarial imitation loop shared by GAIL and AIRL.

One trainer step is one PPO iteration with a learned reward::

    rollout (jaxil.rl.ppo.rollout)
      -> disc_updates discriminator steps: expert transitions (label 1) vs the
         rollout's transitions (label 0), binary cross-entropy on logits
         + a gradient penalty on interpolates
      -> reward = the algorithm's reward of the updated discriminator
      -> PPO epochs on that reward (jaxil.rl.ppo.update)

An algorithm is a :class:`Discriminator`: how to initialise its params, its logit
``logit(params, batch, log_pi)`` (``log D - log(1 - D)``, D the probability that a
transition is the expert's) and the reward the policy is trained on. ``batch`` holds
observations standardised with the demos' statistics and action features (one-hot
for discrete actions); ``log_pi`` is the current policy's log-probability of each
action (AIRL's D depends on it; it is a constant for the discriminator's gradient).
GAIL and AIRL differ only there; nothing of PPO is copied.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import policy as pol
from jaxil.algos import bc
from jaxil.envs import Env
from jaxil.loop import Trainer
from jaxil.rl import ppo
from jaxil.types import Demos, Transition

PPO_FIELDS = ppo.Hparams._fields


class Discriminator(NamedTuple):
    init: Callable[[jax.Array], Any]
    """``init(key) -> params``."""
    logit: Callable[[Any, Transition, jax.Array, Any], jax.Array]
    """``logit(params, batch, log_pi, hparams) -> [B]``: log D - log(1 - D)."""
    reward: Callable[[Any, Transition, jax.Array, Any], jax.Array]
    """``reward(params, batch, log_pi, hparams) -> [B]``: what PPO maximises."""


class State(NamedTuple):
    ppo: ppo.State
    disc_params: Any
    disc_opt_state: optax.OptState
    input_norm: pol.ObsNorm  # fixed: the demos' observation statistics
    key: jax.Array


def ppo_hparams(hp) -> ppo.Hparams:
    """The PPO fields of an algorithm's flat Hparams (flat, so every field is sweepable)."""
    return ppo.Hparams(*(getattr(hp, f) for f in PPO_FIELDS))


def action_features(spec, action: jax.Array) -> jax.Array:
    """One-hot for discrete actions, the action vector itself otherwise: ``[B, A]``."""
    if spec.discrete:
        return jax.nn.one_hot(action, spec.action_size, dtype=jnp.float32)
    return action.reshape(action.shape[0], -1).astype(jnp.float32)


def bce_loss(expert_logit: jax.Array, policy_logit: jax.Array) -> jax.Array:
    """-E_expert[log D] - E_policy[log(1 - D)] with D = sigmoid(logit)."""
    return -jnp.mean(jax.nn.log_sigmoid(expert_logit)) - jnp.mean(jax.nn.log_sigmoid(-policy_logit))


def gradient_penalty(logit_of_inputs: Callable[[Transition], jax.Array], expert: Transition, policy: Transition,
                     key: jax.Array) -> jax.Array:
    """E[(|grad_x logit(x)| - 1)^2] at random interpolates x of expert and policy inputs.

    x interpolates obs, action features and next_obs; the flags (terminated...) are the
    expert sample's. ``logit_of_inputs`` maps a featurised Transition batch to ``[B]``.
    """
    w = jax.random.uniform(key, (expert.obs.shape[0], 1))
    lerp = lambda e, p: w * e + (1 - w) * p
    inputs = (lerp(expert.obs, policy.obs), lerp(expert.action, policy.action), lerp(expert.next_obs, policy.next_obs))

    def single(obs, action, next_obs, flags):
        tr = Transition(obs[None], action[None], next_obs[None], *(f[None] for f in flags))
        return logit_of_inputs(tr)[0]

    flags = (expert.reward, expert.terminated, expert.truncated)
    grads = jax.vmap(jax.grad(single, argnums=(0, 1, 2)))(*inputs, flags)
    sq = sum(jnp.sum(g**2, -1) for g in grads)
    return jnp.mean((jnp.sqrt(sq + 1e-12) - 1.0) ** 2)


def _sample_expert(key, demos: Demos, n: int) -> Transition:
    idx = jax.random.choice(key, demos.mask.shape[0], (n,), p=demos.mask / demos.mask.sum())
    return jax.tree.map(lambda x: x[idx], demos.transitions())


def _sample_policy(key, flat: Transition, n: int) -> Transition:
    idx = jax.random.randint(key, (n,), 0, flat.obs.shape[0])
    return jax.tree.map(lambda x: x[idx], flat)


def make_adversarial(ppo_config: ppo.Config, env: Env, disc: Discriminator, disc_updates: int, disc_batch: int,
                     normalize_inputs: bool = True) -> Trainer:
    """The adversarial Trainer; Hparams must carry PPO's fields plus ``disc_lr`` and ``grad_penalty``."""
    spec = ppo.policy_spec(ppo_config, env)
    espec = env.spec

    def featurize(norm: pol.ObsNorm, tr: Transition) -> Transition:
        f = (lambda o: norm(o)) if normalize_inputs else (lambda o: o)
        return tr._replace(obs=f(tr.obs), next_obs=f(tr.next_obs), action=action_features(espec, tr.action))

    def log_pi(policy_params, tr: Transition) -> jax.Array:
        return jax.lax.stop_gradient(pol.log_prob(spec, policy_params, tr.obs, tr.action))

    def init_fn(key, demos: Demos, hp) -> State:
        key, k_ppo, k_disc = jax.random.split(key, 3)
        disc_params = disc.init(k_disc)
        tx = optax.adam(hp.disc_lr)
        return State(ppo.init(ppo_config, env, k_ppo, ppo_hparams(hp)), disc_params, tx.init(disc_params),
                     bc.masked_obs_norm(demos.obs, demos.mask), key)

    def disc_step(carry, k, flat: Transition, demos: Demos, policy_params, norm, hp):
        params, opt_state = carry
        k_e, k_p, k_gp = jax.random.split(k, 3)
        raw_expert, raw_mine = _sample_expert(k_e, demos, disc_batch), _sample_policy(k_p, flat, disc_batch)
        expert, mine = featurize(norm, raw_expert), featurize(norm, raw_mine)
        lp_expert, lp_mine = log_pi(policy_params, raw_expert), log_pi(policy_params, raw_mine)

        def loss_fn(p):
            e_logit = disc.logit(p, expert, lp_expert, hp)
            p_logit = disc.logit(p, mine, lp_mine, hp)
            # The penalty acts on the learned part only (log_pi enters as a constant).
            gp = gradient_penalty(lambda x: disc.logit(p, x, jnp.zeros(x.obs.shape[0]), hp), expert, mine, k_gp)
            loss = bce_loss(e_logit, p_logit)
            acc = 0.5 * (jnp.mean(e_logit > 0) + jnp.mean(p_logit < 0))
            return loss + hp.grad_penalty * gp, {"disc_loss": loss, "grad_penalty": gp, "disc_accuracy": acc}

        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optax.adam(hp.disc_lr).update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def step_fn(state: State, demos: Demos, hp):
        ppo_state, traj = ppo.rollout(ppo_config, env, state.ppo)
        flat = jax.tree.map(lambda x: x.reshape(ppo_config.batch_size, *x.shape[2:]), traj.transition)
        key, k_disc = jax.random.split(state.key)
        policy_params = ppo_state.params
        body = lambda c, k: disc_step(c, k, flat, demos, policy_params, state.input_norm, hp)
        (disc_params, disc_opt), aux = jax.lax.scan(body, (state.disc_params, state.disc_opt_state),
                                                    jax.random.split(k_disc, disc_updates))
        reward = disc.reward(disc_params, featurize(state.input_norm, flat), log_pi(policy_params, flat), hp)
        reward = reward.reshape(ppo_config.num_steps, ppo_config.num_envs)
        ppo_state, ppo_metrics = ppo.update(ppo_config, env, ppo_state, traj, reward, ppo_hparams(hp))
        metrics = {**ppo_metrics, **jax.tree.map(lambda x: x[-1], aux), "learned_reward": reward.mean(),
                   **ppo.episode_metrics(traj)}
        return State(ppo_state, disc_params, disc_opt, state.input_norm, key), metrics

    def policy_fn(state: State):
        return {"actor": state.ppo.params["actor"], "obs_norm": state.ppo.params["obs_norm"]}

    return Trainer(init_fn, step_fn, policy_fn, spec, ppo_config.batch_size)
