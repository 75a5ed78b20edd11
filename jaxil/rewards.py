"""Learned rewards as standalone functions: evaluate, save, load, re-optimise.

A reward learned by AIRL (its ``g``) or GAIL (its discriminator) is a
(:class:`RewardSpec`, :class:`LearnedReward`) pair; :func:`reward_fn` evaluates it on
raw observations and actions, and :func:`as_rl_reward` turns it into the
``reward_fn(obs, action, next_obs, env_reward)`` that :mod:`jaxil.rl.ppo` and
:mod:`jaxil.rl.sac` take, so a fresh policy can be trained on it in any env with the
same spaces (e.g. the maze with its wall moved).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil import nets, policy as pol
from jaxil.envs import EnvSpec
from jaxil.errors import InputError
from jaxil.fileio import load_params, save_params

INPUTS = ("s", "sa", "ss")
FORMS = ("raw", "gail", "log_d", "logit")


class LearnedReward(NamedTuple):
    net_params: dict
    input_norm: pol.ObsNorm  # observation standardisation the net was trained with


@dataclasses.dataclass(frozen=True)
class RewardSpec:
    env: EnvSpec
    hidden: tuple[int, ...]
    activation: str
    inputs: str = "s"
    """s: r(s); sa: r(s, a); ss: r(s, s')."""
    form: str = "raw"
    """raw: the net's output; gail / log_d / logit: a discriminator logit turned into a reward."""
    source: str = ""

    def __post_init__(self):
        if self.inputs not in INPUTS or self.form not in FORMS:
            raise InputError(f"reward inputs must be one of {INPUTS} and form one of {FORMS}, got "
                             f"{self.inputs!r}, {self.form!r}")

    def net(self) -> nets.MLP:
        return nets.MLP(tuple(self.hidden), 1, self.activation)

    def input_size(self) -> int:
        extra = {"s": 0, "sa": self.env.action_size, "ss": self.env.obs_size}[self.inputs]
        return self.env.obs_size + extra

    def to_dict(self) -> dict:
        return {"env": self.env.to_dict(), "hidden": list(self.hidden), "activation": self.activation,
                "inputs": self.inputs, "form": self.form, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "RewardSpec":
        return cls(EnvSpec.from_dict(d["env"]), tuple(d["hidden"]), d["activation"], d["inputs"], d["form"],
                   d.get("source", ""))


def _action_features(env: EnvSpec, action: jax.Array, lead: tuple[int, ...]) -> jax.Array:
    if env.discrete:
        return jax.nn.one_hot(action, env.action_size, dtype=jnp.float32)
    return jnp.asarray(action, jnp.float32).reshape(*lead, env.action_size)


def reward_fn(spec: RewardSpec, params: LearnedReward, obs, action, next_obs) -> jax.Array:
    """The reward of raw ``obs`` [..., D], ``action`` and ``next_obs``: ``[...]``."""
    x = params.input_norm(obs)
    if spec.inputs == "sa":
        x = jnp.concatenate([x, _action_features(spec.env, action, obs.shape[:-1])], -1)
    elif spec.inputs == "ss":
        x = jnp.concatenate([x, params.input_norm(next_obs)], -1)
    out = spec.net().apply(params.net_params, x)[..., 0]
    if spec.form == "gail":
        return jax.nn.softplus(out)
    if spec.form == "log_d":
        return -jax.nn.softplus(-out)
    return out


def as_rl_reward(spec: RewardSpec, params: LearnedReward):
    """``reward_fn(obs, action, next_obs, env_reward)`` for :mod:`jaxil.rl` (ignores the env reward)."""
    return lambda obs, action, next_obs, env_reward: reward_fn(spec, params, obs, action, next_obs)


def check_env(spec: RewardSpec, env: EnvSpec, where: str = "reward") -> None:
    """The reward can score transitions of ``env`` (same sizes and action type; any dynamics)."""
    for field in ("obs_size", "action_size", "discrete"):
        a, b = getattr(spec.env, field), getattr(env, field)
        if a != b:
            raise InputError(f"{where}: learned on {spec.env.name!r} with {field}={a}, but env {env.name!r} has {b}")


def save_reward(directory: str, spec: RewardSpec, params: LearnedReward, extra: dict | None = None) -> None:
    """Writes ``reward.msgpack`` and ``reward.json`` atomically."""
    tree = {"net": params.net_params, "norm": params.input_norm._asdict()}
    save_params(directory, "reward", tree, {"spec": spec.to_dict(), **(extra or {})})


def _template(spec: RewardSpec) -> dict:
    return {"net": spec.net().init(jax.random.PRNGKey(0), jnp.zeros(spec.input_size())),
            "norm": pol.ObsNorm.create(spec.env.obs_size)._asdict()}


def load_reward(directory: str) -> tuple[RewardSpec, LearnedReward]:
    """Reads a reward written by :func:`save_reward`; clear errors for missing or corrupt files."""
    spec, tree, _ = load_params(directory, "reward", lambda meta: RewardSpec.from_dict(meta["spec"]), _template)
    return spec, LearnedReward(tree["net"], pol.ObsNorm(**tree["norm"]))
