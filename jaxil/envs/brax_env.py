"""Brax locomotion tasks as jaxil core envs."""

from __future__ import annotations

import jax.numpy as jnp

from jaxil.envs.core import EnvSpec
from jaxil.errors import InputError

BRAX_TASKS = ("hopper", "halfcheetah", "walker2d", "ant", "humanoid", "inverted_pendulum", "reacher")
BRAX_BACKENDS = ("positional", "generalized", "spring", "mjx")
# The positional pipeline is the fastest on CPU and GPU for these tasks and trains
# them well (Brax's own published PPO/SAC baselines use it for most of them).
DEFAULT_BRAX_BACKEND = "positional"


# Brax's ant has 8 actuators, hip then ankle of each leg in turn.
ANT_LEGS = 4
ANT_ACTUATORS_PER_LEG = 2


def disabled_leg_mask(action_size: int, disabled_legs: int) -> jnp.ndarray:
    """1 for live actuators, 0 for the hip and ankle of the first ``disabled_legs`` legs."""
    if not 0 <= disabled_legs <= ANT_LEGS:
        raise InputError(f"disabled_legs must be in [0, {ANT_LEGS}], got {disabled_legs}")
    dead = disabled_legs * ANT_ACTUATORS_PER_LEG
    return jnp.concatenate([jnp.zeros(dead), jnp.ones(action_size - dead)]).astype(jnp.float32)


class BraxCore:
    """Adapter over ``brax.envs.get_environment``; extra options go to the Brax env.

    ``disabled_legs=k`` (ant only) immobilises the first ``k`` legs, AIRL's "disabled
    ant" transfer task: their actuators ignore the policy's actions, so the legs hang
    limp and the ant must walk on the others.
    """

    expensive_reset = True  # EpisodeEnv caches initial states by default (see its docstring)

    def __init__(self, name: str, backend: str = DEFAULT_BRAX_BACKEND, episode_length: int = 1000,
                 disabled_legs: int = 0, **kwargs):
        if backend not in BRAX_BACKENDS:
            raise InputError(f"unknown Brax backend {backend!r} for env {name!r}; choose one of {BRAX_BACKENDS}")
        if disabled_legs and name != "ant":
            raise InputError(f"disabled_legs is an option of ant, not of {name!r}")
        from brax import envs as brax_envs

        self._env = brax_envs.get_environment(name, backend=backend, **kwargs)
        size = int(self._env.action_size)
        self._action_mask = disabled_leg_mask(size, disabled_legs) if disabled_legs else None
        if disabled_legs:
            kwargs = {**kwargs, "disabled_legs": disabled_legs}
        self.spec = EnvSpec(
            name=name,
            obs_size=int(self._env.observation_size),
            action_size=size,
            discrete=False,
            max_episode_steps=int(episode_length),
            action_low=(-1.0,) * size,
            action_high=(1.0,) * size,
            options=tuple(sorted({"backend": backend, **kwargs}.items())),
        )

    def core_reset(self, key):
        state = self._env.reset(key)
        return state, state.obs.astype(jnp.float32)

    def core_step(self, key, core, action):
        del key  # Brax dynamics are deterministic
        if self._action_mask is not None:
            action = action * self._action_mask
        state = self._env.step(core, action)
        return state, state.obs.astype(jnp.float32), state.reward, state.done > 0.5
