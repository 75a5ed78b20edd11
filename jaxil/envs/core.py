"""The one environment protocol of jaxil and its episode / auto-reset wrapper.

Backends (gymnax, Brax, jaxil's own tasks) implement the small :class:`CoreEnv`
protocol: a single never-ending episode with natural termination only. jaxil wraps
every core in :class:`EpisodeEnv`, which adds the time limit, automatic resets that
keep the true final observation, and the split between ``terminated`` (the MDP
reached an absorbing state: do not bootstrap) and ``truncated`` (the time limit cut
the episode: bootstrap from ``next_obs``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxil.errors import InputError


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment; hashable, so it can key compilation."""

    name: str
    """Registered name, e.g. ``"cartpole"``."""
    obs_size: int
    """Length of the flat float32 observation vector."""
    action_size: int
    """Number of actions (discrete) or action dimension (continuous)."""
    discrete: bool
    """True: actions are int32 scalars in ``[0, action_size)``."""
    max_episode_steps: int
    """Time limit after which an episode is truncated."""
    action_low: tuple[float, ...] | None = None
    """Per-dimension lower bound of continuous actions."""
    action_high: tuple[float, ...] | None = None
    """Per-dimension upper bound of continuous actions."""
    options: tuple[tuple[str, Any], ...] = ()
    """Options given to :func:`jaxil.envs.make`, as sorted (key, value) pairs."""

    @property
    def action_shape(self) -> tuple[int, ...]:
        return () if self.discrete else (self.action_size,)

    @property
    def action_dtype(self):
        return jnp.int32 if self.discrete else jnp.float32

    def action_bounds(self) -> tuple[jax.Array, jax.Array]:
        """``(low, high)`` of a continuous action box as float32 arrays."""
        return jnp.asarray(self.action_low, jnp.float32), jnp.asarray(self.action_high, jnp.float32)

    def unit_actions(self, action: jax.Array) -> jax.Array:
        """Continuous actions rescaled from the action box to [-1, 1] (float32), e.g. as network inputs."""
        low, high = self.action_bounds()
        return 2 * (action.astype(jnp.float32) - low) / (high - low) - 1

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["options"] = dict(self.options)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EnvSpec":
        d = dict(d)
        for k in ("action_low", "action_high"):
            if d.get(k) is not None:
                d[k] = tuple(float(v) for v in d[k])
        d["options"] = tuple(sorted(dict(d.get("options", {})).items()))
        return cls(**d)


class EnvState(NamedTuple):
    """State of one environment (add a leading axis for a batch).

    After ``step``: ``obs`` is what the agent acts on next (the first observation of a
    new episode when the last one ended), while ``next_obs`` is the true observation
    the step reached. ``reward``, ``terminated`` and ``truncated`` describe that step.
    """

    core: Any
    obs: jax.Array
    next_obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    episode_step: jax.Array
    episode_return: jax.Array
    """Return of the current episode so far; after a step that ended an episode,
    the completed episode's return (the next step starts counting from zero)."""
    key: jax.Array
    first: Any = None
    """``(core, obs)`` of the episode's initial state when resets are cached, else None."""

    @property
    def done(self) -> jax.Array:
        return jnp.logical_or(self.terminated, self.truncated)


class Env(Protocol):
    """What every jaxil algorithm sees: pure, jit- and vmap-able reset/step."""

    spec: EnvSpec

    def reset(self, key: jax.Array) -> EnvState: ...

    def step(self, state: EnvState, action: jax.Array) -> EnvState: ...


class CoreEnv(Protocol):
    """What a backend adapter implements: one episode, natural termination only."""

    spec: EnvSpec

    def core_reset(self, key: jax.Array) -> tuple[Any, jax.Array]: ...

    def core_step(
        self, key: jax.Array, core: Any, action: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
        """Returns ``(core, obs, reward, terminated)``."""
        ...


def _select(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class EpisodeEnv:
    """Time limit + auto-reset that keeps the true final observation.

    Brax's ``AutoResetWrapper`` overwrites the final observation with the reset one;
    here it stays in ``next_obs`` so that bootstrapping at truncation and rewards of
    the form r(s, a, s') (AIRL, ValueDICE) see the state the step really reached.
    """

    def __init__(self, core: CoreEnv, max_episode_steps: int | None = None, reset: str = "auto"):
        """``reset``: ``fresh`` draws a new initial state at every auto-reset;
        ``cached`` restarts each env from the initial state it drew at ``reset``
        (what Brax's own AutoResetWrapper does: a fresh Brax reset costs about half
        a physics step, computed every step under vmap); ``auto`` caches only for
        cores that declare ``expensive_reset = True``."""
        if reset not in ("auto", "fresh", "cached"):
            raise InputError(f"reset must be 'auto', 'fresh' or 'cached', got {reset!r}")
        if reset == "auto":
            reset = "cached" if getattr(core, "expensive_reset", False) else "fresh"
        self.reset_mode = reset
        self.core = core
        spec = core.spec
        if max_episode_steps is not None:
            if int(max_episode_steps) <= 0:
                raise InputError(
                    f"max_episode_steps must be positive, got {max_episode_steps}"
                )
            spec = dataclasses.replace(spec, max_episode_steps=int(max_episode_steps))
        self.spec = spec
        if not spec.discrete:
            self._low, self._high = spec.action_bounds()

    def __repr__(self) -> str:
        return f"EpisodeEnv({self.spec.name}, max_episode_steps={self.spec.max_episode_steps})"

    def reset(self, key: jax.Array) -> EnvState:
        key, k_reset = jax.random.split(key)
        core, obs = self.core.core_reset(k_reset)
        zero = jnp.zeros((), jnp.float32)
        false = jnp.zeros((), jnp.bool_)
        return EnvState(
            core=core,
            obs=obs,
            next_obs=obs,
            reward=zero,
            terminated=false,
            truncated=false,
            episode_step=jnp.zeros((), jnp.int32),
            episode_return=zero,
            key=key,
            first=(core, obs) if self.reset_mode == "cached" else None,
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        if self.spec.discrete:
            action = jnp.asarray(action, jnp.int32)
        else:
            action = jnp.clip(action, self._low, self._high)
        # fold_in(k, i) == split(k, 3)[i] under partitionable threefry, but as separate
        # ops XLA drops keys a step never uses (k_step for deterministic cores).
        key, k_step, k_reset = (jax.random.fold_in(state.key, i) for i in range(3))
        # An episode that ended on the previous step restarts its counters now, so the
        # completed return stays readable in the state right after the final step.
        prev_done = state.done
        episode_step = jnp.where(prev_done, 0, state.episode_step) + 1
        episode_return = jnp.where(prev_done, 0.0, state.episode_return)

        core, next_obs, reward, terminated = self.core.core_step(k_step, state.core, action)
        reward = jnp.asarray(reward, jnp.float32)
        terminated = jnp.asarray(terminated, jnp.bool_)
        truncated = jnp.logical_and(
            episode_step >= self.spec.max_episode_steps, jnp.logical_not(terminated)
        )
        done = jnp.logical_or(terminated, truncated)
        if self.reset_mode == "cached":
            reset_core, reset_obs = state.first
        else:
            reset_core, reset_obs = self.core.core_reset(k_reset)
        return EnvState(
            core=_select(done, reset_core, core),
            obs=jnp.where(done, reset_obs, next_obs),
            next_obs=next_obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            episode_step=episode_step,
            episode_return=episode_return + reward,
            key=key,
            first=state.first,
        )
