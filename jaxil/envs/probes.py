"""Probe tasks: tiny envs whose right answer is known, built to expose one behaviour.

``tightrope`` is the compounding-error task of Ross & Bagnell (2010): the expert
walks a rope (offset 0) and never leaves it, so its demonstrations hold no state off
the rope. A learner that slips off has never seen what to do there. Behavioural
cloning with a linear softmax policy on one-hot states cannot learn anything about
unseen states (their weights get no gradient), so it keeps its on-rope action
("stay") and stays off for the rest of the episode: expected cost grows like
epsilon T^2 / 2 for a per-step error epsilon. DAgger labels the learner's off-rope
states with the expert's way back and pays about epsilon T.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxil.envs.core import EnvSpec, EpisodeEnv
from jaxil.errors import InputError

LEFT, STAY, RIGHT = 0, 1, 2


class TightropeCore:
    """Offset ``d`` in ``[-width, width]``; actions left / stay / right move it by -1 / 0 / +1.

    Observation: one-hot of ``d`` (size ``2 * width + 1``). Reward: ``-1`` for every
    step that ends off the rope (``d != 0``), else 0; the expert's return is 0.
    Episodes start on the rope and never terminate (the time limit ends them).
    """

    def __init__(self, width: int = 4, horizon: int = 100):
        if width < 1 or horizon < 1:
            raise InputError(f"tightrope needs width >= 1 and horizon >= 1, got width={width}, horizon={horizon}")
        self.width = int(width)
        self.spec = EnvSpec(name="tightrope", obs_size=2 * self.width + 1, action_size=3, discrete=True,
                            max_episode_steps=int(horizon), options=(("horizon", int(horizon)), ("width", self.width)))

    def _obs(self, d):
        return jax.nn.one_hot(d + self.width, self.spec.obs_size, dtype=jnp.float32)

    def core_reset(self, key):
        d = jnp.zeros((), jnp.int32)
        return d, self._obs(d)

    def core_step(self, key, d, action):
        d = jnp.clip(d + jnp.asarray(action, jnp.int32) - 1, -self.width, self.width)
        reward = -(d != 0).astype(jnp.float32)
        return d, self._obs(d), reward, jnp.zeros((), jnp.bool_)


def tightrope(width: int = 4, horizon: int = 100) -> EpisodeEnv:
    """The tightrope probe wrapped in jaxil's episode wrapper (time limit ``horizon``)."""
    return EpisodeEnv(TightropeCore(width, horizon))


def tightrope_expert(width: int):
    """The expert's ``act(params, obs, key)``: stay on the rope, step back towards it otherwise."""

    def act(params, obs, key):
        d = jnp.argmax(obs, -1) - width
        return (STAY - jnp.sign(d)).astype(jnp.int32)

    return act
