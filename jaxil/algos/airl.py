"""AIRL (Fu, Luo & Levine 2018): a discriminator whose logit is a shaped reward.

D(s, a, s') = exp f / (exp f + pi(a|s)), so logit D = f(s, a, s') - log pi(a|s), with

    f(s, a, s') = g(s[, a]) + gamma (1 - terminated) h(s') - h(s).

``g`` is the reward (state-only with ``state_only=True``: the disentangled reward
that transfers to changed dynamics), ``h`` a potential that absorbs the shaping.
A terminal transition has no successor: its ``h(s')`` term is zero (the value of the
absorbing state), so terminal steps are scored by ``g - h(s)`` only. The policy is
trained on the logit (``f - log pi``: the entropy-regularised reward of the paper).

After training, :func:`reward_fn` is the learned reward ``g`` as a standalone
function; :func:`save_reward` / :func:`load_reward` write and read it (with its
input normalisation) so ``jaxil train ppo --reward PATH`` can re-optimise it in a
changed env.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxil import nets, policy as pol
from jaxil.algos import adversarial
from jaxil.envs import Env, EnvSpec
from jaxil.fileio import write_atomic
from jaxil.loop import Trainer
from jaxil.rl import ppo, sac
from jaxil.types import Transition

State = adversarial.State


@dataclasses.dataclass(frozen=True)
class Config:
    learner: str = "ppo"
    """The RL algorithm under the discriminator: ppo (on-policy) or sac (off-policy,
    continuous actions; far fewer env steps)."""
    ppo: ppo.Config = ppo.Config(num_envs=8, num_steps=128)
    """PPO settings (learner="ppo")."""
    sac: sac.Config = sac.Config()
    """SAC settings (learner="sac")."""
    state_only: bool = True
    """g(s) (disentangled, transferable) instead of g(s, a)."""
    reward_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of g."""
    potential_hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of h."""
    disc_activation: str = "tanh"
    """Hidden activation of g and h."""
    disc_updates: int = 4
    """Discriminator minibatch steps per PPO iteration."""
    disc_batch: int = 256
    """Expert and policy transitions per discriminator minibatch (each)."""
    policy_reward: str = "logit"
    """What PPO maximises: logit (f - log pi, the paper's, any sign) or softplus
    (-log(1 - D) = softplus(f - log pi), positive). In envs that terminate when the
    agent fails (cartpole) a reward that is mostly negative teaches the policy to end
    episodes early; softplus removes that bias. The learned reward g is the same."""

    def __post_init__(self):
        if self.policy_reward not in ("logit", "softplus"):
            raise ValueError(f"unknown AIRL policy_reward {self.policy_reward!r}; choose logit or softplus")
        if self.disc_updates < 1 or self.disc_batch < 1:
            raise ValueError(f"disc_updates and disc_batch must be >= 1, got {self.disc_updates}, {self.disc_batch}")


class Hparams(NamedTuple):
    lr: float = 3e-4
    gamma: float = 0.99
    """Discount of PPO and of the shaping term gamma h(s')."""
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
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
    """Adam learning rate of g and h."""
    grad_penalty: float = 1.0
    """Weight of the gradient penalty on the logit's learned part f."""


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

    def reward(params, batch: Transition, log_pi, hp):
        out = logit(params, batch, log_pi, hp)
        return jax.nn.softplus(out) if config.policy_reward == "softplus" else out

    return adversarial.Discriminator(init, logit, reward)


def make_train(config: Config, env: Env) -> Trainer:
    learner = adversarial.make_learner(config.learner, config.ppo, config.sac, env)
    return adversarial.make_adversarial(learner, env, discriminator(config, env), config.disc_updates,
                                        config.disc_batch)


# ---- the learned reward as a standalone function ----------------------------------

class LearnedReward(NamedTuple):
    """What :func:`reward_fn` needs: the g network's params and the input normalisation."""

    g_params: dict
    input_norm: pol.ObsNorm


@dataclasses.dataclass(frozen=True)
class RewardSpec:
    env: EnvSpec
    hidden: tuple[int, ...]
    activation: str
    state_only: bool

    def net(self) -> nets.MLP:
        return nets.MLP(tuple(self.hidden), 1, self.activation)

    def to_dict(self) -> dict:
        return {"env": self.env.to_dict(), "hidden": list(self.hidden), "activation": self.activation,
                "state_only": self.state_only}

    @classmethod
    def from_dict(cls, d: dict) -> "RewardSpec":
        return cls(EnvSpec.from_dict(d["env"]), tuple(d["hidden"]), d["activation"], bool(d["state_only"]))


def learned_reward(config: Config, env: Env, state: State) -> tuple[RewardSpec, LearnedReward]:
    """The reward ``g`` of one (unbatched) AIRL train state."""
    spec = RewardSpec(env.spec, tuple(config.reward_hidden), config.disc_activation, config.state_only)
    return spec, LearnedReward(state.disc_params["g"], state.input_norm)


def reward_fn(spec: RewardSpec, params: LearnedReward, obs, action, next_obs) -> jax.Array:
    """g(s) (or g(s, a)) of raw observations and actions with leading batch axes: ``[...]``."""
    x = params.input_norm(obs)
    if not spec.state_only:
        lead = obs.shape[:-1]
        feats = adversarial.action_features(spec.env, action.reshape(-1, *spec.env.action_shape))
        x = jnp.concatenate([x, feats.reshape(*lead, -1)], -1)
    return spec.net().apply(params.g_params, x)[..., 0]


def save_reward(directory: str, spec: RewardSpec, params: LearnedReward, extra: dict | None = None) -> None:
    """Writes ``reward.msgpack`` and ``reward.json`` atomically."""
    os.makedirs(directory, exist_ok=True)
    blob = flax.serialization.to_bytes(jax.tree.map(np.asarray, params._asdict()))
    write_atomic(os.path.join(directory, "reward.msgpack"), blob)
    meta = {"kind": "airl", "spec": spec.to_dict(), **(extra or {})}
    write_atomic(os.path.join(directory, "reward.json"), json.dumps(meta, indent=2).encode())


def load_reward(directory: str) -> tuple[RewardSpec, LearnedReward]:
    """Reads a reward written by :func:`save_reward`; clear errors for missing or corrupt files."""
    meta_path, blob_path = os.path.join(directory, "reward.json"), os.path.join(directory, "reward.msgpack")
    for p in (meta_path, blob_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"no saved reward at {directory!r}: missing {os.path.basename(p)}")
    try:
        with open(meta_path) as f:
            spec = RewardSpec.from_dict(json.load(f)["spec"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"corrupt reward metadata {meta_path!r}: {e}") from e
    g_in = jnp.zeros(spec.env.obs_size + (0 if spec.state_only else spec.env.action_size))
    template = LearnedReward(spec.net().init(jax.random.PRNGKey(0), g_in), pol.ObsNorm.create(spec.env.obs_size))
    with open(blob_path, "rb") as f:
        blob = f.read()
    try:
        restored = flax.serialization.from_bytes(template._asdict(), blob)
    except Exception as e:  # msgpack raises several unrelated types on bad bytes
        raise ValueError(f"corrupt reward params {blob_path!r}: {e}") from e
    norm = pol.ObsNorm(*(jnp.asarray(restored["input_norm"][k]) for k in ("mean", "var", "count"))) \
        if isinstance(restored["input_norm"], dict) else pol.ObsNorm(*map(jnp.asarray, restored["input_norm"]))
    return spec, LearnedReward(jax.tree.map(jnp.asarray, restored["g_params"]), norm)
