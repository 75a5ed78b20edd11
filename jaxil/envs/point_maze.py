"""A 2-D point maze whose wall can shift: AIRL's transfer task (Fu et al. 2018, "shifting maze").

The agent (a point in the unit square) starts near the bottom centre and must reach
a goal near the top centre. A horizontal wall at ``y = 0.5`` blocks the direct path:
``wall="left"`` covers ``x in [0, 0.65]`` (go round on the right), ``wall="right"``
covers ``x in [0.35, 1]`` (go round on the left). The reward, minus the distance to
the goal, does not depend on the wall, so a reward that depends on the state alone
transfers from one maze to the other while a policy (or a reward that encodes the
path) does not.

Observation ``(x, y)``; action a displacement in ``[-1, 1]^2`` scaled by ``speed``;
a step whose path would cross the wall keeps its horizontal part only. Episodes never
terminate: the time limit ends them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxil.envs.core import EnvSpec
from jaxil.errors import InputError

WALLS = {"left": (0.0, 0.65), "right": (0.35, 1.0), "none": (2.0, 2.0)}
START, GOAL = (0.5, 0.1), (0.5, 0.9)


class PointMazeCore:
    def __init__(self, wall: str = "left", speed: float = 0.05, start_noise: float = 0.02, horizon: int = 100):
        if wall not in WALLS:
            raise InputError(f"point_maze wall must be one of {sorted(WALLS)}, got {wall!r}")
        if not 0 < speed <= 0.5 or start_noise < 0 or horizon < 1:
            raise InputError(f"point_maze needs 0 < speed <= 0.5, start_noise >= 0, horizon >= 1; got "
                             f"speed={speed}, start_noise={start_noise}, horizon={horizon}")
        self.wall, self.speed, self.start_noise = wall, float(speed), float(start_noise)
        self.spec = EnvSpec(name="point_maze", obs_size=2, action_size=2, discrete=False, max_episode_steps=int(horizon),
                            action_low=(-1.0, -1.0), action_high=(1.0, 1.0),
                            options=tuple(sorted({"wall": wall, "speed": self.speed, "start_noise": self.start_noise,
                                                  "horizon": int(horizon)}.items())))

    def core_reset(self, key):
        pos = jnp.asarray(START, jnp.float32) + self.start_noise * jax.random.uniform(key, (2,), minval=-1, maxval=1)
        return pos, pos

    def core_step(self, key, pos, action):
        target = jnp.clip(pos + self.speed * jnp.clip(action, -1.0, 1.0), 0.0, 1.0)
        lo, hi = WALLS[self.wall]
        crosses = (pos[1] - 0.5) * (target[1] - 0.5) <= 0.0
        x_at_wall = jnp.where(jnp.abs(target[1] - pos[1]) > 1e-9,
                              pos[0] + (0.5 - pos[1]) * (target[0] - pos[0]) / (target[1] - pos[1] + 1e-12), target[0])
        blocked = crosses & (x_at_wall >= lo) & (x_at_wall <= hi) & (pos[1] != 0.5)
        new = jnp.where(blocked, jnp.stack([target[0], pos[1]]), target)
        reward = -jnp.linalg.norm(new - jnp.asarray(GOAL, jnp.float32))
        return new, new, reward, jnp.zeros((), jnp.bool_)
