"""Building, collecting and slicing :class:`jaxil.types.Demos`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs import Env, EnvSpec
from jaxil.types import DEMO_FIELDS, Demos


class DemosError(ValueError):
    """Demonstrations that are malformed, corrupt, or do not match the env."""


@dataclasses.dataclass(frozen=True)
class DemosMeta:
    """Metadata saved beside the arrays (kept out of the pytree: see :class:`Demos`)."""

    env: EnvSpec
    returns: tuple[float, ...]
    """Return of each episode, in episode-id order."""
    source: str = ""
    """Where the demos came from, e.g. ``jaxil expert ppo seed 3``."""
    expert_return: float | None = None
    """Reference score of the expert (normalised score 1)."""
    random_return: float | None = None
    """Reference score of a uniform random policy (normalised score 0)."""
    extra: dict = dataclasses.field(default_factory=dict)
    """Any further JSON-able information."""

    def to_dict(self) -> dict:
        return {"format": "jaxil.demos/1", "env": self.env.to_dict(), "returns": list(self.returns),
                "source": self.source, "expert_return": self.expert_return,
                "random_return": self.random_return, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "DemosMeta":
        return cls(EnvSpec.from_dict(d["env"]), tuple(float(r) for r in d["returns"]), d.get("source", ""),
                   d.get("expert_return"), d.get("random_return"), dict(d.get("extra", {})))


def make_demos(obs, action, next_obs, reward, terminated, truncated, episode, mask=None) -> Demos:
    """Demos from array-likes with canonical dtypes (mask defaults to all ones)."""
    obs = np.asarray(obs, np.float32)
    action = np.asarray(action)
    action = action.astype(np.int32) if np.issubdtype(action.dtype, np.integer) else action.astype(np.float32)
    n = obs.shape[0]
    mask = np.ones(n, np.float32) if mask is None else np.asarray(mask, np.float32)
    return Demos(obs, action, np.asarray(next_obs, np.float32), np.asarray(reward, np.float32),
                 np.asarray(terminated, bool), np.asarray(truncated, bool), np.asarray(episode, np.int32), mask)


def to_numpy(demos: Demos) -> Demos:
    return Demos(*(np.asarray(x) for x in demos))


def to_jax(demos: Demos) -> Demos:
    return Demos(*(jnp.asarray(x) for x in demos))


def collect(env: Env, act, params: Any, key: jax.Array, num_episodes: int) -> tuple[Demos, np.ndarray]:
    """Records the first episode of ``num_episodes`` parallel envs under ``act``.

    ``act(params, obs [B, obs_size], key) -> action [B, ...]``. Returns host-side
    Demos with contiguous episodes in time order and the per-episode returns.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    rows, alive = _rollout_first_episodes(env, act, params, key, num_episodes)
    rows = jax.tree.map(np.asarray, rows)
    alive = np.asarray(alive)  # [T, E]
    # Episode-major, time-ordered: transpose [T, E] -> [E, T] and keep live steps.
    order = [np.swapaxes(x, 0, 1)[np.swapaxes(alive, 0, 1)] for x in rows]
    obs, action, next_obs, reward, terminated, truncated = order
    lengths = alive.sum(0)
    episode = np.repeat(np.arange(num_episodes, dtype=np.int32), lengths)
    if not env.spec.discrete:
        action = np.clip(action, env.spec.action_low, env.spec.action_high)
    demos = make_demos(obs, action, next_obs, reward, terminated, truncated, episode)
    return demos, episode_returns(demos)


def _rollout_first_episodes(env: Env, act, params, key, num_episodes: int):
    @jax.jit
    def go(params, key):
        k_reset, k_act = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))

        def one(carry, k):
            state, alive = carry
            action = act(params, state.obs, k)
            nxt = jax.vmap(env.step)(state, action)
            row = (state.obs, jnp.asarray(action, env.spec.action_dtype), nxt.next_obs, nxt.reward,
                   nxt.terminated, nxt.truncated)
            return (nxt, alive & ~nxt.done), (row, alive)

        init = (state, jnp.ones(num_episodes, bool))
        _, (rows, alive) = jax.lax.scan(one, init, jax.random.split(k_act, env.spec.max_episode_steps))
        return rows, alive

    return go(params, key)


def episode_returns(demos: Demos) -> np.ndarray:
    """Sum of rewards of each episode id (ids 0..E-1), over real transitions only."""
    ep = np.asarray(demos.episode)
    w = np.asarray(demos.reward, np.float64) * np.asarray(demos.mask)
    return np.bincount(ep, weights=w, minlength=int(ep.max()) + 1 if ep.size else 0).astype(np.float64)


def _episode_slices(episode: np.ndarray) -> list[slice]:
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    ends = np.r_[starts[1:], episode.size]
    return [slice(s, e) for s, e in zip(starts, ends)]


def _take(demos: Demos, idx: np.ndarray) -> Demos:
    return Demos(*(np.asarray(x)[idx] for x in demos))


def select_trajectories(demos: Demos, n: int, key: jax.Array | None = None, pad_to: int | None = None) -> Demos:
    """The first ``n`` episodes (or ``n`` random ones given ``key``), re-indexed 0..n-1.

    With ``pad_to`` the result has exactly ``pad_to`` rows: padding rows copy row 0
    with ``mask = 0``, so subsets of different sizes share one shape.
    """
    demos = to_numpy(demos)
    slices = _episode_slices(demos.episode)
    if not 1 <= n <= len(slices):
        raise ValueError(f"cannot select {n} trajectories: the demos hold {len(slices)}")
    chosen = range(n) if key is None else np.sort(np.asarray(jax.random.choice(key, len(slices), (n,), replace=False)))
    parts = [np.arange(len(slices))[0:0]]
    new_ep = []
    for new_id, i in enumerate(chosen):
        rows = np.arange(slices[i].start, slices[i].stop)
        parts.append(rows)
        new_ep.append(np.full(rows.size, new_id, np.int32))
    out = _take(demos, np.concatenate(parts))._replace(episode=np.concatenate(new_ep))
    return out if pad_to is None else pad(out, pad_to)


def pad(demos: Demos, size: int) -> Demos:
    """Pads to ``size`` rows with masked copies of row 0."""
    demos = to_numpy(demos)
    n = demos.obs.shape[0]
    if size < n:
        raise ValueError(f"pad_to={size} is smaller than the {n} transitions selected")
    idx = np.r_[np.arange(n), np.zeros(size - n, np.int64)]
    out = _take(demos, idx)
    mask = out.mask.copy()
    mask[n:] = 0.0
    return out._replace(mask=mask)


def subsample(demos: Demos, every: int, offset: int = 0, key: jax.Array | None = None) -> Demos:
    """Every ``every``-th transition of each episode, starting at ``offset``.

    With ``key``, each episode gets its own random offset in ``[0, every)`` — how
    GAIL's experiments subsample expert trajectories (every 20th step).
    """
    if every < 1 or not 0 <= offset < every:
        raise ValueError(f"need every >= 1 and 0 <= offset < every, got every={every}, offset={offset}")
    demos = to_numpy(demos)
    slices = _episode_slices(demos.episode)
    offsets = (np.asarray(jax.random.randint(key, (len(slices),), 0, every)) if key is not None
               else np.full(len(slices), offset))
    idx = np.concatenate([np.arange(s.start + o, s.stop, every) for s, o in zip(slices, offsets)])
    return _take(demos, idx)


def summary(demos: Demos) -> str:
    ret = episode_returns(demos)
    return (f"{int(np.asarray(demos.mask).sum())} transitions, {ret.size} episodes, "
            f"return mean {ret.mean():.2f} min {ret.min():.2f} max {ret.max():.2f}")


__all__ = ["DemosError", "DemosMeta", "make_demos", "collect", "episode_returns", "select_trajectories", "pad",
           "subsample", "to_jax", "to_numpy", "DEMO_FIELDS"]
