"""The adversarial imitation loop shared by GAIL and AIRL.

One trainer step is one iteration of the RL learner with a learned reward::

    collect (jaxil.rl.ppo.rollout, or jaxil.rl.sac.collect into its replay buffer)
      -> disc_updates discriminator steps: expert transitions (label 1) vs the
         policy's (label 0: this rollout for PPO, replay samples for SAC),
         binary cross-entropy on logits + a gradient penalty on interpolates
      -> the learner's update on the updated discriminator's reward (PPO epochs on
         the rollout, or SAC updates on replay batches relabelled with it)

An algorithm is a :class:`Discriminator`: how to initialise its params, its logit
``logit(params, batch, log_pi)`` (``log D - log(1 - D)``, D the probability that a
transition is the expert's) and the reward the policy is trained on. ``batch`` holds
observations standardised with the demos' statistics and action features (one-hot
for discrete actions); ``log_pi`` is the current policy's log-probability of each
action (AIRL's D depends on it; it is a constant for the discriminator's gradient).
GAIL and AIRL differ only there; nothing of PPO is copied.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxil import policy as pol
from jaxil.algos import bc
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.rl import ppo, replay, sac
from jaxil.types import Demos, Transition

PPO_FIELDS = ppo.Hparams._fields
SAC_FIELDS = sac.Hparams._fields


LEARNERS = ("ppo", "sac")


@dataclasses.dataclass(frozen=True)
class Config:
    """What GAIL's and AIRL's configs share: the learner and the discriminator's schedule."""

    learner: str = "ppo"
    """The RL algorithm under the discriminator: ppo (on-policy) or sac (off-policy,
    continuous actions; far fewer env steps)."""
    ppo: ppo.Config = ppo.Config(num_envs=8, num_steps=128)
    """PPO settings (learner="ppo")."""
    sac: sac.Config = sac.Config()
    """SAC settings (learner="sac")."""
    disc_activation: str = "tanh"
    """Hidden activation of the discriminator's networks."""
    disc_updates: int = 4
    """Discriminator minibatch steps per learner iteration."""
    disc_batch: int = 256
    """Expert and policy transitions per discriminator minibatch (each)."""

    def __post_init__(self):
        if self.learner not in LEARNERS:
            raise InputError(f"unknown learner {self.learner!r}; choose one of {LEARNERS}")
        if self.disc_updates < 1 or self.disc_batch < 1:
            raise InputError(f"disc_updates and disc_batch must be >= 1, got {self.disc_updates}, {self.disc_batch}")


class Discriminator(NamedTuple):
    init: Callable[[jax.Array], Any]
    """``init(key) -> params``."""
    logit: Callable[[Any, Transition, jax.Array, Any], jax.Array]
    """``logit(params, batch, log_pi, hparams) -> [B]``: log D - log(1 - D)."""
    reward: Callable[[Any, Transition, jax.Array, Any], jax.Array]
    """``reward(params, batch, log_pi, hparams) -> [B]``: what PPO maximises."""


class State(NamedTuple):
    rl: Any  # the learner's state (jaxil.rl.ppo.State or jaxil.rl.sac.State)
    disc_params: Any
    disc_opt_state: optax.OptState
    input_norm: pol.ObsNorm  # fixed: the demos' observation statistics
    key: jax.Array


class Hparams(NamedTuple):
    """Flat hyperparameters of GAIL and AIRL: the learner's (PPO's or SAC's) and the
    discriminator's, all traced, so any of them can be swept."""


    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    """Entropy bonus of the policy (PPO's)."""
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    reward_scale: float = 1.0
    actor_lr: float = 1e-3
    """SAC only: Adam learning rate of the policy (PPO uses ``lr``)."""
    critic_lr: float = 1e-3
    """SAC only: learning rate of the twin critics."""
    alpha_lr: float = 1e-3
    """SAC only: learning rate of the entropy temperature."""
    tau: float = 0.005
    """SAC only: Polyak rate of the target critics."""
    init_alpha: float = 1.0
    """SAC only: initial entropy temperature."""
    disc_lr: float = 3e-4
    """Adam learning rate of the discriminator."""
    grad_penalty: float = 10.0
    """Weight of the gradient penalty (|grad logit| - 1)^2 on interpolates."""


def ppo_hparams(hp) -> ppo.Hparams:
    """The PPO fields of an algorithm's flat Hparams (flat, so every field is sweepable)."""
    return ppo.Hparams(*(getattr(hp, f) for f in PPO_FIELDS))


def sac_hparams(hp) -> sac.Hparams:
    """The SAC fields of an algorithm's flat Hparams."""
    return sac.Hparams(*(getattr(hp, f) for f in SAC_FIELDS))


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


class Learner(NamedTuple):
    """The RL algorithm under the discriminator, as the pieces the loop needs."""

    spec: pol.PolicySpec
    env_steps_per_step: int
    init: Callable[[jax.Array, Any], Any]
    """``init(key, hparams) -> state``."""
    collect: Callable[[Any], tuple[Any, Any]]
    """``collect(state) -> (state, traj)``; traj has ``transition`` / ``episode_return`` [T, N]."""
    policy_batch: Callable[[Any, Any, jax.Array, int], Transition]
    """``policy_batch(state, traj, key, n)``: the policy's transitions the discriminator sees."""
    update: Callable[[Any, Any, Callable[[Transition], jax.Array], Any], tuple[Any, dict]]
    """``update(state, traj, reward_of_batch, hparams) -> (state, metrics)``."""
    policy_params: Callable[[Any], dict]


def _flat(tr: Transition) -> Transition:
    return jax.tree.map(lambda x: x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]), tr)


def ppo_learner(config: ppo.Config, env: Env) -> Learner:
    """On-policy: the discriminator sees this iteration's rollout; PPO learns from its rewards."""

    def update(state, traj, reward_of_batch, hp):
        reward = reward_of_batch(_flat(traj.transition)).reshape(config.num_steps, config.num_envs)
        state, metrics = ppo.update(config, env, state, traj, reward, ppo_hparams(hp))
        return state, {**metrics, "learned_reward": reward.mean()}

    return Learner(ppo.policy_spec(config, env), config.batch_size,
                   lambda key, hp: ppo.init(config, env, key, ppo_hparams(hp)),
                   lambda state: ppo.rollout(config, env, state),
                   lambda state, traj, key, n: _sample_policy(key, _flat(traj.transition), n),
                   update,
                   lambda state: {"actor": state.params["actor"], "obs_norm": state.params["obs_norm"]})


def sac_learner(config: sac.Config, env: Env) -> Learner:
    """Off-policy (as in DAC): the discriminator sees replay samples; SAC relabels every
    sampled batch with the current discriminator's reward."""

    def update(state, traj, reward_of_batch, hp):
        state, metrics = sac.train_updates(config, env, state, sac_hparams(hp), batch_reward_fn=reward_of_batch)
        return state, metrics

    return Learner(sac.policy_spec(config, env), config.env_steps_per_step,
                   lambda key, hp: sac.init(config, env, key, sac_hparams(hp)),
                   lambda state: sac.collect(config, env, state),
                   lambda state, traj, key, n: replay.buffer_sample(state.buffer, key, n),
                   update,
                   lambda state: state.params.actor)


def make_adversarial(learner: Learner, env: Env, disc: Discriminator, disc_updates: int, disc_batch: int,
                     normalize_inputs: bool = True) -> Trainer:
    """The adversarial Trainer; Hparams carry the learner's fields plus ``disc_lr`` and ``grad_penalty``."""
    spec = learner.spec
    espec = env.spec

    def featurize(norm: pol.ObsNorm, tr: Transition) -> Transition:
        f = (lambda o: norm(o)) if normalize_inputs else (lambda o: o)
        return tr._replace(obs=f(tr.obs), next_obs=f(tr.next_obs), action=action_features(espec, tr.action))

    def log_pi(policy_params, tr: Transition) -> jax.Array:
        return jax.lax.stop_gradient(pol.log_prob(spec, policy_params, tr.obs, tr.action))

    def init_fn(key, demos: Demos, hp) -> State:
        key, k_rl, k_disc = jax.random.split(key, 3)
        disc_params = disc.init(k_disc)
        tx = optax.adam(hp.disc_lr)
        return State(learner.init(k_rl, hp), disc_params, tx.init(disc_params),
                     bc.masked_obs_norm(demos.obs, demos.mask), key)

    def disc_step(carry, k, rl_state, traj, demos: Demos, policy_params, norm, hp):
        params, opt_state = carry
        k_e, k_p, k_gp = jax.random.split(k, 3)
        raw_expert, raw_mine = _sample_expert(k_e, demos, disc_batch), learner.policy_batch(rl_state, traj, k_p,
                                                                                            disc_batch)
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
        rl_state, traj = learner.collect(state.rl)
        key, k_disc = jax.random.split(state.key)
        policy_params = learner.policy_params(rl_state)
        body = lambda c, k: disc_step(c, k, rl_state, traj, demos, policy_params, state.input_norm, hp)
        (disc_params, disc_opt), aux = jax.lax.scan(body, (state.disc_params, state.disc_opt_state),
                                                    jax.random.split(k_disc, disc_updates))
        reward_of_batch = lambda b: disc.reward(disc_params, featurize(state.input_norm, b),
                                                log_pi(policy_params, b), hp)
        rl_state, rl_metrics = learner.update(rl_state, traj, reward_of_batch, hp)
        metrics = {**rl_metrics, **jax.tree.map(lambda x: x[-1], aux), **ppo.episode_metrics(traj)}
        return State(rl_state, disc_params, disc_opt, state.input_norm, key), metrics

    def policy_fn(state: State):
        return learner.policy_params(state.rl)

    return Trainer(init_fn, step_fn, policy_fn, spec, learner.env_steps_per_step)


def make_learner(kind: str, ppo_config: ppo.Config, sac_config: sac.Config, env: Env) -> Learner:
    if kind == "ppo":
        return ppo_learner(ppo_config, env)
    if kind == "sac":
        return sac_learner(sac_config, env)
    raise InputError(f"unknown learner {kind!r}; choose ppo or sac")


def make_train(config: Config, env: Env, disc: Discriminator) -> Trainer:
    """The Trainer of an adversarial method given its config and discriminator."""
    learner = make_learner(config.learner, config.ppo, config.sac, env)
    return make_adversarial(learner, env, disc, config.disc_updates, config.disc_batch)
