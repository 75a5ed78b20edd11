"""Brax locomotion tasks as jaxil core envs."""

from __future__ import annotations

import jax.numpy as jnp

from jaxil.envs.core import EnvSpec

BRAX_TASKS = ("hopper", "halfcheetah", "walker2d", "ant", "humanoid", "inverted_pendulum", "reacher")
BRAX_BACKENDS = ("positional", "generalized", "spring", "mjx")
# The positional pipeline is the fastest on CPU and GPU for these tasks and trains
# them well (Brax's own published PPO/SAC baselines use it for most of them).
DEFAULT_BRAX_BACKEND = "positional"


class BraxCore:
    """Adapter over ``brax.envs.get_environment``; extra options go to the Brax env."""

    expensive_reset = True  # EpisodeEnv caches initial states by default (see its docstring)

    def __init__(self, name: str, backend: str = DEFAULT_BRAX_BACKEND, episode_length: int = 1000, **kwargs):
        if backend not in BRAX_BACKENDS:
            raise ValueError(f"unknown Brax backend {backend!r} for env {name!r}; choose one of {BRAX_BACKENDS}")
        from brax import envs as brax_envs

        self._env = brax_envs.get_environment(name, backend=backend, **kwargs)
        size = int(self._env.action_size)
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
        state = self._env.step(core, action)
        return state, state.obs.astype(jnp.float32), state.reward, state.done > 0.5
