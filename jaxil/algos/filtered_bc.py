"""Filtered BC: behavioural cloning on the best episodes of a mixed-quality dataset.

The offline-RL baseline that needs no value function: rank the dataset's episodes by
return, keep the top ``top_fraction`` of them and clone those. The filter is a mask
computed inside the compiled program from the demos' rewards, then
:mod:`jaxil.algos.bc` trains unchanged on the masked demos; since ``top_fraction``
is a traced hyperparameter, BC on all data and on the top 10% / 25% can run as one
vmapped program over one compilation (``top_fraction=1`` is plain BC).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxil.algos import bc
from jaxil.envs import Env
from jaxil.loop import Trainer
from jaxil.types import Demos

State = bc.State


@dataclasses.dataclass(frozen=True)
class Config:
    bc: bc.Config = bc.Config()
    """The BC learner's settings (network, batch, updates per step)."""


class Hparams(NamedTuple):
    top_fraction: float = 0.1
    """Fraction of episodes kept, by return (at least one episode; ties at the
    threshold are all kept)."""
    lr: float = 1e-3
    ent_coef: float = 0.0
    l2_coef: float = 0.0


def bc_hparams(hp: Hparams) -> bc.Hparams:
    return bc.Hparams(*(getattr(hp, f) for f in bc.Hparams._fields))


def episode_returns(demos: Demos) -> tuple[jax.Array, jax.Array]:
    """Masked reward sums per episode id: ``(returns [N], present [N] bool)``.

    Slot ``e`` holds episode ``e``'s return; there are at most N episodes in N rows,
    so N slots give static shapes whatever the dataset.
    """
    n = demos.mask.shape[0]
    returns = jax.ops.segment_sum(demos.reward * demos.mask, demos.episode, num_segments=n)
    present = jax.ops.segment_sum(demos.mask, demos.episode, num_segments=n) > 0
    return returns, present


def top_episode_mask(demos: Demos, top_fraction) -> jax.Array:
    """``[N]`` mask of the real rows that belong to the top ``top_fraction`` of episodes by return.

    Keeps ``k = max(1, ceil(top_fraction * E))`` episodes of the ``E`` present,
    plus any tied with the k-th best. Pure and jit-able; ``top_fraction`` may be traced.
    """
    returns, present = episode_returns(demos)
    num_episodes = present.sum()
    k = jnp.clip(jnp.ceil(top_fraction * num_episodes - 1e-6).astype(jnp.int32), 1, num_episodes)
    ranked = jnp.sort(jnp.where(present, returns, -jnp.inf))[::-1]
    threshold = ranked[k - 1]
    keep_episode = present & (returns >= threshold)
    return demos.mask * keep_episode[demos.episode].astype(demos.mask.dtype)


def filtered(demos: Demos, top_fraction) -> Demos:
    """The demos with the rows of the other episodes masked out (inside the trainer only:
    the masked rows are interleaved with real ones, unlike saved padding)."""
    return demos._replace(mask=top_episode_mask(demos, top_fraction))


def make_train(config: Config, env: Env) -> Trainer:
    """BC's trainer on the filtered demos (``demos`` must carry the env's rewards)."""
    inner = bc.make_train(config.bc, env)

    def init_fn(key, demos: Demos, hp: Hparams):
        # Observation statistics of the kept episodes: the ones the policy will see.
        return inner.init(key, filtered(demos, hp.top_fraction), bc_hparams(hp))

    def step_fn(state, demos: Demos, hp: Hparams):
        return inner.step(state, filtered(demos, hp.top_fraction), bc_hparams(hp))

    return Trainer(init_fn, step_fn, inner.policy, inner.policy_spec, 0)
