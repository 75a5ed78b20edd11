"""Policies as (static spec, params) pairs: acting, observation normalisation, save/load.

Every algorithm that produces a policy produces a :class:`PolicySpec` and a params
pytree ``{"actor": ..., "obs_norm": ObsNorm}``; everything downstream (evaluation,
demo collection, DAgger's expert, saved experts) goes through :func:`make_act`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil import nets
from jaxil.envs import EnvSpec
from jaxil.errors import InputError
from jaxil.fileio import load_params, save_params


OBS_CLIP = 10.0
"""Where :class:`ObsNorm` clips standardised observations by default (in standard units)."""


class ObsNorm(NamedTuple):
    """Running mean / variance of observations (parallel Welford update)."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, size: int) -> "ObsNorm":
        return cls(jnp.zeros(size, jnp.float32), jnp.ones(size, jnp.float32), jnp.asarray(1e-4, jnp.float32))

    def update(self, batch: jax.Array) -> "ObsNorm":
        """Folds in ``batch`` [..., size] (Chan et al.'s parallel algorithm)."""
        batch = batch.reshape(-1, batch.shape[-1])
        n = batch.shape[0]
        b_mean, b_var = batch.mean(0), batch.var(0)
        total = self.count + n
        delta = b_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / total
        return ObsNorm(mean, m2 / total, total)

    def __call__(self, obs: jax.Array, clip: float | None = OBS_CLIP) -> jax.Array:
        """``(obs - mean) / std``, clipped to ``[-clip, clip]`` (``clip=None``: not clipped)."""
        z = (obs - self.mean) / jnp.sqrt(self.var + 1e-8)
        return z if clip is None else jnp.clip(z, -clip, clip)


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """Everything static needed to rebuild a policy from its params."""

    env: EnvSpec
    kind: str  # categorical | gaussian | tanh_gaussian
    hidden: tuple[int, ...] = (64, 64)
    act: str = "tanh"
    obs_clip: float | None = OBS_CLIP
    """Clip of the standardised observations the actor sees (None: no clip). Running
    statistics (PPO, SAC) keep the usual 10; a policy standardised with fixed, narrow
    demonstration statistics can need every standard unit (see
    :attr:`jaxil.algos.offpolicy.Config.obs_clip`)."""

    def __post_init__(self):
        if self.obs_clip is not None and not self.obs_clip > 0:
            raise InputError(f"PolicySpec.obs_clip must be None or > 0, got {self.obs_clip!r}")

    @classmethod
    def default_kind(cls, env: EnvSpec, continuous_kind: str = "gaussian") -> str:
        return "categorical" if env.discrete else continuous_kind

    @property
    def actor(self) -> nets.Actor:
        return nets.Actor(tuple(self.hidden), self.env.action_size, self.kind, self.act)

    def init(self, key: jax.Array) -> dict:
        actor = self.actor.init(key, jnp.zeros((self.env.obs_size,)))
        return {"actor": actor, "obs_norm": ObsNorm.create(self.env.obs_size)}

    def to_dict(self) -> dict:
        return {"env": self.env.to_dict(), "kind": self.kind, "hidden": list(self.hidden), "act": self.act,
                "obs_clip": self.obs_clip}

    @classmethod
    def from_dict(cls, d: dict) -> "PolicySpec":
        """The inverse of :meth:`to_dict`; a dict saved before ``obs_clip`` existed gets the
        clip those policies were trained with, :data:`OBS_CLIP`."""
        clip = d.get("obs_clip", OBS_CLIP)
        return cls(EnvSpec.from_dict(d["env"]), d["kind"], tuple(d["hidden"]), d["act"],
                   None if clip is None else float(clip))


def dist_params(spec: PolicySpec, params: dict, obs: jax.Array):
    return spec.actor.apply(params["actor"], params["obs_norm"](obs, spec.obs_clip))


def sample(spec: PolicySpec, params: dict, obs: jax.Array, key: jax.Array):
    """Samples an action and its log-probability. obs [..., obs_size]."""
    return dist_sample(spec, dist_params(spec, params, obs), key)


def dist_sample(spec: PolicySpec, out, key: jax.Array):
    """An action and its log-probability from the actor's output ``out = dist_params(...)``
    (see :func:`dist_log_prob` for why a loss derives several quantities from one ``out``)."""
    if spec.kind == "categorical":
        action = jax.random.categorical(key, out)
        return action, nets.categorical_log_prob(out, action)
    mean, log_std = out
    if spec.kind == "gaussian":
        action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return action, nets.gaussian_log_prob(mean, log_std, action)
    return nets.tanh_gaussian_sample(key, mean, log_std, *spec.env.action_bounds())


def dist_log_prob(spec: PolicySpec, out, action: jax.Array):
    """log pi(action | obs) from the actor's output ``out = dist_params(...)``; for
    tanh_gaussian, of the squashed action. A loss that needs several quantities of the
    same distribution computes ``out`` once and derives each from it: two calls of the
    actor on the same batch would each send a cotangent back through the whole network."""
    if spec.kind == "categorical":
        return nets.categorical_log_prob(out, action)
    mean, log_std = out
    if spec.kind == "gaussian":
        return nets.gaussian_log_prob(mean, log_std, action)
    return nets.tanh_gaussian_log_prob(mean, log_std, action, *spec.env.action_bounds())


def dist_entropy(spec: PolicySpec, out):
    """Entropy from the actor's output: exact for categorical; for both Gaussian kinds the
    unsquashed Gaussian's (tanh_gaussian's has no closed form; this is the standard proxy)."""
    if spec.kind == "categorical":
        return nets.categorical_entropy(out)
    return nets.gaussian_entropy(out[1])


def dist_mode(spec: PolicySpec, out):
    """The deterministic action from the actor's output: argmax, mean clipped to bounds,
    or squashed mean."""
    if spec.kind == "categorical":
        return jnp.argmax(out, -1).astype(jnp.int32)
    low, high = spec.env.action_bounds()
    if spec.kind == "gaussian":
        return jnp.clip(out[0], low, high)
    return low + (jnp.tanh(out[0]) + 1) * (high - low) / 2


def log_prob(spec: PolicySpec, params: dict, obs: jax.Array, action: jax.Array):
    """log pi(action | obs); for tanh_gaussian, of the squashed action."""
    return dist_log_prob(spec, dist_params(spec, params, obs), action)


def mode(spec: PolicySpec, params: dict, obs: jax.Array):
    """The deterministic action: argmax, mean clipped to bounds, or squashed mean."""
    return dist_mode(spec, dist_params(spec, params, obs))


def make_act(spec: PolicySpec, deterministic: bool = True):
    """``act(params, obs, key) -> action``, the policy-function shape jaxil passes around."""
    if deterministic:
        return lambda params, obs, key: mode(spec, params, obs)
    return lambda params, obs, key: sample(spec, params, obs, key)[0]


# ---- save / load -----------------------------------------------------------------

def save_policy(directory: str, spec: PolicySpec, params: dict, extra: dict | None = None) -> None:
    """Writes ``policy.msgpack`` (params) and ``policy.json`` (spec + ``extra``) atomically."""
    save_params(directory, "policy", params, {"spec": spec.to_dict(), **(extra or {})})


def load_policy(directory: str) -> tuple[PolicySpec, dict, dict]:
    """Returns ``(spec, params, metadata)`` saved by :func:`save_policy`."""
    return load_params(directory, "policy", lambda meta: PolicySpec.from_dict(meta["spec"]),
                       lambda spec: spec.init(jax.random.PRNGKey(0)))
