"""GAIL (Ho & Ermon 2016): PPO on the reward of a discriminator between expert and policy.

D(x) = sigmoid(MLP(x)) is the probability that x came from the expert, with
x = (s, a) or (s, s'). Reward forms, in terms of the logit l = log D - log(1 - D):

- ``gail``:  -log(1 - D) = softplus(l)   (positive: a survival bonus; the paper's form
  up to its sign convention for D)
- ``log_d``: log D = -softplus(-l)       (negative: favours ending episodes early)
- ``logit``: l = log D - log(1 - D)      (the AIRL-style form, both signs)

Runs through :mod:`jaxil.algos.adversarial` (PPO from :mod:`jaxil.rl.ppo`, unchanged).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxil import nets, rewards
from jaxil.algos import adversarial
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Transition

REWARD_FORMS = ("gail", "log_d", "logit")
INPUTS = ("sa", "ss")

State = adversarial.State


@dataclasses.dataclass(frozen=True)
class Config(adversarial.Config):
    """GAIL: the shared fields of :class:`jaxil.algos.adversarial.Config` plus the discriminator's."""

    disc_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the discriminator."""
    disc_input: str = "sa"
    """sa: D(s, a); ss: D(s, s') (learning from observations only)."""
    reward_form: str = "gail"
    """gail (-log(1 - D)) | log_d (log D) | logit (log D - log(1 - D))."""

    def __post_init__(self):
        super().__post_init__()
        if self.reward_form not in REWARD_FORMS:
            raise InputError(f"unknown GAIL reward_form {self.reward_form!r}; choose one of {REWARD_FORMS}")
        if self.disc_input not in INPUTS:
            raise InputError(f"unknown GAIL disc_input {self.disc_input!r}; choose one of {INPUTS}")


Hparams = adversarial.Hparams


def disc_inputs(kind: str, batch: Transition) -> jax.Array:
    second = batch.action if kind == "sa" else batch.next_obs
    return jnp.concatenate([batch.obs, second], -1)


def reward_from_logit(form: str, logit: jax.Array) -> jax.Array:
    if form == "gail":
        return jax.nn.softplus(logit)
    if form == "log_d":
        return -jax.nn.softplus(-logit)
    return logit


def discriminator(config: Config, env: Env) -> adversarial.Discriminator:
    net = nets.MLP(tuple(config.disc_hidden), 1, config.disc_activation)
    second = env.spec.action_size if config.disc_input == "sa" else env.spec.obs_size

    def logit(params, batch: Transition, log_pi, hp):
        return net.apply(params, disc_inputs(config.disc_input, batch))[..., 0]

    def reward(params, batch: Transition, log_pi, hp):
        return reward_from_logit(config.reward_form, logit(params, batch, log_pi, hp))

    return adversarial.Discriminator(lambda k: net.init(k, jnp.zeros(env.spec.obs_size + second)), logit, reward)


def make_train(config: Config, env: Env) -> Trainer:
    return adversarial.make_train(config, env, discriminator(config, env))


def learned_reward(config: Config, env: Env, state: State) -> tuple[rewards.RewardSpec, rewards.LearnedReward]:
    """The discriminator of one (unbatched) GAIL train state as a reward (its ``reward_form``)."""
    spec = rewards.RewardSpec(env.spec, tuple(config.disc_hidden), config.disc_activation, config.disc_input,
                              config.reward_form, "gail")
    return spec, rewards.LearnedReward(state.disc_params, state.input_norm)
