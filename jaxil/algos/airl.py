"""AIRL (Fu, Luo & Levine 2018): a discriminator whose logit is a shaped reward.

D(s, a, s') = exp f / (exp f + pi(a|s)), so logit D = f(s, a, s') - log pi(a|s), with

    f(s, a, s') = g(s[, a]) + gamma (1 - terminated) h(s') - h(s).

``g`` is the reward (state-only with ``state_only=True``: the disentangled reward
that transfers to changed dynamics), ``h`` a potential that absorbs the shaping.
A terminal transition has no successor: its ``h(s')`` term is zero (the value of the
absorbing state), so terminal steps are scored by ``g - h(s)`` only. The policy is
trained on the logit (``f - log pi``: the entropy-regularised reward of the paper).

After training, :func:`learned_reward` gives ``g`` as a :mod:`jaxil.rewards` reward
(``rewards.reward_fn``, ``rewards.save_reward`` / ``load_reward``), so
``jaxil train sac|ppo --reward PATH`` can re-optimise it in a changed env.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil import nets, rewards
from jaxil.algos import adversarial
from jaxil.envs import Env
from jaxil.errors import InputError
from jaxil.loop import Trainer
from jaxil.types import Transition

State = adversarial.State


@dataclasses.dataclass(frozen=True)
class Config(adversarial.Config):
    """AIRL: the shared fields of :class:`jaxil.algos.adversarial.Config` plus g, h and the policy reward."""

    state_only: bool = True
    """g(s) (disentangled, transferable) instead of g(s, a)."""
    reward_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of g."""
    potential_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of h."""
    policy_reward: str = "auto"
    """What the learner maximises: logit (f - log pi, the paper's, any sign), softplus
    (-log(1 - D) = softplus(f - log pi), positive) or f (the shaped reward alone).
    auto: logit under PPO; f under SAC, which adds the policy's entropy itself (the
    -log pi of the logit would count it twice). In envs that terminate when the
    agent fails (cartpole) a reward that is mostly negative teaches the policy to end
    episodes early; softplus removes that bias. The learned reward g is the same."""

    def __post_init__(self):
        super().__post_init__()
        if self.policy_reward not in ("auto", "logit", "softplus", "f"):
            raise InputError(f"unknown AIRL policy_reward {self.policy_reward!r}; choose auto, logit, softplus or f")


class Hparams(adversarial.Hparams):
    """GAIL's fields (:class:`jaxil.algos.adversarial.Hparams`); AIRL's default gradient
    penalty is 1.0 (on the learned part f), GAIL's 10.0. ``gamma`` is also the discount
    of the shaping term gamma h(s')."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        if len(args) <= adversarial.Hparams._fields.index("grad_penalty"):
            kwargs.setdefault("grad_penalty", 1.0)
        return super().__new__(cls, *args, **kwargs)


class RewardNets(NamedTuple):
    g: nets.MLP
    h: nets.MLP
    state_only: bool

    def g_input(self, obs, action):
        return obs if self.state_only else jnp.concatenate([obs, action], -1)


def reward_nets(config: Config) -> RewardNets:
    act = config.disc_activation
    return RewardNets(nets.MLP(tuple(config.reward_hidden), 1, act), nets.MLP(tuple(config.potential_hidden), 1, act),
                      config.state_only)


def shaped_reward(rn: RewardNets, params, batch: Transition, gamma) -> jax.Array:
    """f(s, a, s') = g + gamma (1 - terminated) h(s') - h(s) on featurised inputs: ``[B]``."""
    g = rn.g.apply(params["g"], rn.g_input(batch.obs, batch.action))[..., 0]
    h = rn.h.apply(params["h"], batch.obs)[..., 0]
    h_next = rn.h.apply(params["h"], batch.next_obs)[..., 0]
    not_term = 1.0 - batch.terminated.astype(jnp.float32)
    return g + gamma * not_term * h_next - h


def discriminator(config: Config, env: Env) -> adversarial.Discriminator:
    rn = reward_nets(config)
    obs = jnp.zeros(env.spec.obs_size)
    g_in = rn.g_input(obs, jnp.zeros(env.spec.action_size))

    def init(key):
        k_g, k_h = jax.random.split(key)
        return {"g": rn.g.init(k_g, g_in), "h": rn.h.init(k_h, obs)}

    def logit(params, batch: Transition, log_pi, hp):
        return shaped_reward(rn, params, batch, hp.gamma) - log_pi

    form = config.policy_reward
    if form == "auto":
        form = "f" if config.learner == "sac" else "logit"

    def reward(params, batch: Transition, log_pi, hp):
        if form == "f":
            return shaped_reward(rn, params, batch, hp.gamma)
        out = logit(params, batch, log_pi, hp)
        return jax.nn.softplus(out) if form == "softplus" else out

    return adversarial.Discriminator(init, logit, reward)


def make_train(config: Config, env: Env) -> Trainer:
    return adversarial.make_train(config, env, discriminator(config, env))


# ---- the learned reward as a standalone function ----------------------------------

def learned_reward(config: Config, env: Env, state: State) -> tuple[rewards.RewardSpec, rewards.LearnedReward]:
    """The reward ``g`` of one (unbatched) AIRL train state, for :func:`jaxil.rewards.reward_fn`."""
    spec = rewards.RewardSpec(env.spec, tuple(config.reward_hidden), config.disc_activation,
                              "s" if config.state_only else "sa", "raw", "airl")
    return spec, rewards.LearnedReward(state.disc_params["g"], state.input_norm)
