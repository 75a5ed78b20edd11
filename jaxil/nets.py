"""Flax networks and the action distributions they parameterise.

Distributions are plain functions over arrays (shapes in the docstrings), so each
is testable against a hand-computed value and usable inside any loss.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxil import lapack
from jaxil.errors import InputError

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "silu": nn.silu, "elu": nn.elu}


def activation(name: str):
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise InputError(f"unknown activation {name!r}; choose one of {sorted(_ACTIVATIONS)}") from None


def orthogonal(scale: float = 1.0):
    """Flax's orthogonal kernel initialiser, safe to vmap on CPU (:mod:`jaxil.lapack`):
    one network per seed would otherwise be a batched QR that can hang XLA CPU."""
    base = nn.initializers.orthogonal(scale)
    return lambda key, shape, dtype=jnp.float32: lapack.unbatched(lambda k: base(k, shape, dtype))(key)


class MLP(nn.Module):
    """Fully connected layers with orthogonal init; the last layer is linear."""

    hidden: Sequence[int]
    out: int
    act: str = "tanh"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        f = activation(self.act)
        for h in self.hidden:
            x = f(nn.Dense(h, kernel_init=orthogonal(math.sqrt(2)))(x))
        return nn.Dense(self.out, kernel_init=orthogonal(self.out_scale))(x)


class Actor(nn.Module):
    """Policy head. ``kind``: ``categorical`` (logits), ``gaussian`` (mean and a
    state-independent log std, PPO style) or ``tanh_gaussian`` (mean and a
    state-dependent log std, SAC style). Returns the distribution parameters."""

    hidden: Sequence[int]
    action_size: int
    kind: str
    act: str = "tanh"

    @nn.compact
    def __call__(self, obs):
        if self.kind == "categorical":
            return MLP(self.hidden, self.action_size, self.act, 0.01)(obs)
        if self.kind == "gaussian":
            mean = MLP(self.hidden, self.action_size, self.act, 0.01)(obs)
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_size,))
            return mean, jnp.broadcast_to(log_std, mean.shape)
        if self.kind == "tanh_gaussian":
            out = MLP(self.hidden, 2 * self.action_size, self.act, 1.0)(obs)
            mean, log_std = jnp.split(out, 2, axis=-1)
            return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
        raise InputError(f"unknown policy kind {self.kind!r}; choose categorical, gaussian or tanh_gaussian")


class Critic(nn.Module):
    """V(s) (``action_size=0``) or an ensemble of ``num`` Q(s, a) heads."""

    hidden: Sequence[int]
    num: int = 1
    act: str = "tanh"

    @nn.compact
    def __call__(self, obs, action=None):
        x = obs if action is None else jnp.concatenate([obs, action], -1)
        if self.num == 1:
            return MLP(self.hidden, 1, self.act)(x)[..., 0]
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
        )
        return ensemble(self.hidden, 1, self.act)(x)[..., 0]


# ---- distributions -------------------------------------------------------------

def categorical_log_prob(logits, action):
    """logits [..., A], action [...] int -> [...]."""
    logp = jax.nn.log_softmax(logits)
    return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), -1)[..., 0]


def categorical_entropy(logits):
    """logits [..., A] -> [...]."""
    logp = jax.nn.log_softmax(logits)
    return -jnp.sum(jnp.exp(logp) * logp, -1)


def gaussian_log_prob(mean, log_std, x):
    """Diagonal Gaussian; mean, log_std, x [..., D] -> [...]."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), -1)


def gaussian_entropy(log_std):
    """log_std [..., D] -> [...]."""
    return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e), -1)


def tanh_gaussian_sample(key, mean, log_std, low, high):
    """Samples a = low + (tanh(u) + 1)(high - low)/2, u ~ N(mean, std); returns (a, log p(a))."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return _squash(u, mean, log_std, low, high)


def tanh_gaussian_log_prob(mean, log_std, action, low, high, eps=1e-6):
    """log p(a) of the squashed Gaussian at an action inside [low, high]."""
    y = jnp.clip(2 * (action - low) / (high - low) - 1, -1 + eps, 1 - eps)
    return _squash(jnp.arctanh(y), mean, log_std, low, high)[1]


def _squash(u, mean, log_std, low, high):
    # log|d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), numerically stable.
    log_det = jnp.sum(2 * (math.log(2.0) - u - jax.nn.softplus(-2 * u)) + jnp.log((high - low) / 2), -1)
    action = low + (jnp.tanh(u) + 1) * (high - low) / 2
    return action, gaussian_log_prob(mean, log_std, u) - log_det
