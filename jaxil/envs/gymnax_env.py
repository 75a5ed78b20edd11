"""gymnax classic-control tasks as jaxil core envs.

gymnax's own ``step`` auto-resets and folds the time limit in; jaxil calls the
backend's ``step_env`` (natural termination only) and leaves the time limit and
resets to :class:`jaxil.envs.core.EpisodeEnv`.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from jaxil.envs.core import EnvSpec
from jaxil.errors import InputError

# jaxil name -> (gymnax id, default episode length). Lengths follow Gymnasium.
GYMNAX_TASKS = {
    "cartpole": ("CartPole-v1", 500),
    "pendulum": ("Pendulum-v1", 200),
    "mountaincar_continuous": ("MountainCarContinuous-v0", 999),
    "acrobot": ("Acrobot-v1", 500),
    "mountaincar": ("MountainCar-v0", 200),
}


class GymnaxCore:
    """Adapter over a gymnax environment; ``params`` overrides become env options."""

    def __init__(self, name: str, **params):
        import gymnax  # imported lazily: Brax-only users need not pay for it

        gym_id, max_steps = GYMNAX_TASKS[name]
        self._env, default = gymnax.make(gym_id)
        unknown = set(params) - set(f.name for f in dataclasses.fields(default))
        if unknown:
            fields = sorted(f.name for f in dataclasses.fields(default))
            raise InputError(
                f"unknown option(s) {sorted(unknown)} for env {name!r}; "
                f"gymnax {gym_id} parameters are {fields}"
            )
        self._params = default.replace(**params)
        space = self._env.action_space(self._params)
        discrete = not hasattr(space, "low")
        obs_size = int(self._env.observation_space(self._params).shape[0])
        if discrete:
            action_size, low, high = int(space.n), None, None
        else:
            action_size = int(space.shape[0]) if space.shape else 1
            low = tuple(float(v) for v in jnp.broadcast_to(space.low, (action_size,)))
            high = tuple(float(v) for v in jnp.broadcast_to(space.high, (action_size,)))
        self.spec = EnvSpec(
            name=name,
            obs_size=obs_size,
            action_size=action_size,
            discrete=discrete,
            max_episode_steps=max_steps,
            action_low=low,
            action_high=high,
            options=tuple(sorted(params.items())),
        )

    def core_reset(self, key):
        obs, state = self._env.reset_env(key, self._params)
        return state, jnp.asarray(obs, jnp.float32).reshape(self.spec.obs_size)

    def core_step(self, key, core, action):
        if not self.spec.discrete and self.spec.action_size == 1:
            action = action.reshape(())  # gymnax classic control takes scalar force
        obs, core, reward, terminated, _ = self._env.step_env(key, core, action, self._params)
        obs = jnp.asarray(obs, jnp.float32).reshape(self.spec.obs_size)
        return core, obs, jnp.asarray(reward, jnp.float32).reshape(()), terminated
