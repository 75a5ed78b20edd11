"""Building, validating, collecting and slicing :class:`jaxil.types.Demos`.

Everything here except the rollout inside :func:`collect` runs on the host in numpy:
datasets are sliced once before training, and the slices go into compiled code as
ordinary arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.envs import Env, EnvSpec
from jaxil.errors import InputError
from jaxil.types import DEMO_FIELDS, Demos

FORMAT = "jaxil.demos/1"
"""Version tag written into the metadata of every saved dataset."""

ActFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


class DemosError(InputError):
    """Demonstrations that are malformed, corrupt, or do not match the env."""


@dataclasses.dataclass(frozen=True)
class DemosMeta:
    """Metadata saved beside the arrays (kept out of the pytree: see :class:`Demos`)."""

    env: EnvSpec
    """Spec of the env the demos were recorded on."""
    returns: tuple[float, ...]
    """Return of each complete episode, in episode-id order."""
    source: str = ""
    """Where the demos came from, e.g. ``jaxil expert ppo seed 3``."""
    expert_return: float | None = None
    """Reference score of the expert (normalised score 1)."""
    random_return: float | None = None
    """Reference score of a uniform random policy (normalised score 0)."""
    extra: dict = dataclasses.field(default_factory=dict, hash=False)
    """Any further JSON-able information."""

    def __post_init__(self):
        # Normalised here, so that a save/load round trip gives back an equal object.
        set_ = functools.partial(object.__setattr__, self)
        set_("returns", tuple(float(r) for r in self.returns))
        for name in ("expert_return", "random_return"):
            value = getattr(self, name)
            set_(name, None if value is None else float(value))
        try:
            set_("extra", json.loads(json.dumps(dict(self.extra), allow_nan=False)))
        except (TypeError, ValueError) as e:
            raise TypeError(f"DemosMeta.extra must be JSON-able: {e}") from e

    def to_dict(self) -> dict:
        return {"format": FORMAT, "env": self.env.to_dict(), "returns": list(self.returns),
                "source": self.source, "expert_return": self.expert_return,
                "random_return": self.random_return, "extra": self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "DemosMeta":
        fmt = d.get("format", FORMAT)
        if fmt != FORMAT:
            raise InputError(f"unknown format {fmt!r}; this version of jaxil reads {FORMAT!r}")
        return cls(EnvSpec.from_dict(d["env"]), tuple(d["returns"]), str(d.get("source", "")),
                   d.get("expert_return"), d.get("random_return"),
                   dict(d.get("extra", {})))


# ---- building and validating ---------------------------------------------------------

def make_demos(obs, action, next_obs, reward, terminated, truncated, episode, mask=None,
               *, spec: EnvSpec | None = None) -> Demos:
    """Demos of numpy arrays with canonical dtypes from array-likes ``[N, ...]``.

    Integer actions become int32 and float actions float32; ``terminated`` and
    ``truncated`` may be bool or 0/1 numbers; ``mask`` defaults to all ones. Given
    ``spec``, the result is also checked with :func:`validate`.
    """
    action = np.asarray(action)
    action_dtype = np.int32 if action.dtype.kind in "iu" else np.float32
    demos = Demos(
        obs=_cast("obs", obs, np.float32),
        action=_cast("action", action, action_dtype),
        next_obs=_cast("next_obs", next_obs, np.float32),
        reward=_cast("reward", reward, np.float32),
        terminated=_cast_flag("terminated", terminated),
        truncated=_cast_flag("truncated", truncated),
        episode=_cast_ids("episode", episode),
        mask=np.ones(np.shape(obs)[:1], np.float32) if mask is None else _cast("mask", mask, np.float32),
    )
    if spec is not None:
        validate(demos, spec)
    return demos


def _cast(name: str, x, dtype) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DemosError(f"array {name!r} has dtype {x.dtype}; expected numbers")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by name
        out = x.astype(dtype)
    # astype wraps integers and turns large floats into inf without a word; a wrapped
    # action or episode id would pass every later check.
    if np.dtype(dtype).kind in "iu" and x.dtype.kind in "iu" and out.size:
        info = np.iinfo(dtype)
        if x.min() < info.min or x.max() > info.max:
            bad = x[(x < info.min) | (x > info.max)][0]
            raise DemosError(f"array {name!r} holds {bad}, outside the range of {np.dtype(dtype)}")
    if np.dtype(dtype).kind == "f" and x.dtype.kind == "f":
        overflow = np.isfinite(x) & ~np.isfinite(out)
        if overflow.any():
            raise DemosError(f"array {name!r} holds {x[overflow][0]}, too large for {np.dtype(dtype)}")
    return out


def _cast_flag(name: str, x) -> np.ndarray:
    x = _cast(name, x, np.asarray(x).dtype)
    if x.dtype != bool and not np.isin(x, (0, 1)).all():
        raise DemosError(f"array {name!r} must be bool or 0/1, got values such as {x[~np.isin(x, (0, 1))][0]}")
    return x.astype(bool)


def _cast_ids(name: str, x) -> np.ndarray:
    x = _cast(name, x, np.asarray(x).dtype)
    if x.dtype.kind == "f":
        whole = np.isfinite(x) & (x == np.round(x))
        if not whole.all():
            raise DemosError(f"array {name!r} must hold integers, got values such as {x[~whole][0]}")
        if x.size and np.abs(x).max() > np.iinfo(np.int32).max:
            raise DemosError(f"array {name!r} holds {x[np.argmax(np.abs(x))]}, outside the range of int32")
        x = x.astype(np.int64)
    return _cast(name, x, np.int32)


def to_numpy(demos: Demos) -> Demos:
    return Demos(*(np.asarray(x) for x in demos))


def to_jax(demos: Demos) -> Demos:
    return Demos(*(jnp.asarray(x) for x in demos))


_KINDS = {"f": "floating point", "b": "bool", "iu": "integer"}


def _expected_kinds(spec: EnvSpec) -> dict[str, str]:
    return {"obs": "f", "action": "iu" if spec.discrete else "f", "next_obs": "f", "reward": "f",
            "terminated": "b", "truncated": "b", "episode": "iu", "mask": "f"}


def check_dtypes(arrays: Mapping[str, np.ndarray], spec: EnvSpec, where: str = "demos") -> None:
    """Every array present in ``arrays`` has the dtype kind its field needs for ``spec``."""
    for name, kinds in _expected_kinds(spec).items():
        if name in arrays and np.asarray(arrays[name]).dtype.kind not in kinds:
            why = f" (env {spec.name!r} has {'discrete' if spec.discrete else 'continuous'} actions)"
            raise DemosError(f"{where}: array {name!r} has dtype {np.asarray(arrays[name]).dtype}; expected "
                             f"{_KINDS[kinds]}{why if name == 'action' else ''}")


def validate(demos: Demos, spec: EnvSpec, where: str = "demos") -> None:
    """Checks shapes, dtypes, finite values, mask and episode structure against ``spec``.

    ``where`` (a file name, say) starts every error message.
    """
    demos = to_numpy(demos)
    _check_shapes(demos, spec, where)
    check_dtypes(demos._asdict(), spec, where)
    _check_finite(demos, where)
    _check_actions(demos, spec, where)
    _check_mask(demos, where)
    _check_episode_ids(demos, where)


def _check_shapes(demos: Demos, spec: EnvSpec, where: str) -> None:
    if demos.obs.ndim == 0:
        raise DemosError(f"{where}: array 'obs' is a scalar; expected shape (N, {spec.obs_size})")
    n = demos.obs.shape[0]
    if n == 0:
        raise DemosError(f"{where}: empty demos (0 transitions)")
    expected = {"obs": (n, spec.obs_size), "action": (n, *spec.action_shape), "next_obs": (n, spec.obs_size),
                "reward": (n,), "terminated": (n,), "truncated": (n,), "episode": (n,), "mask": (n,)}
    for name, shape in expected.items():
        got = getattr(demos, name).shape
        if got != shape:
            raise DemosError(
                f"{where}: array {name!r} has shape {got}, expected {shape} for env {spec.name!r} "
                f"(obs_size={spec.obs_size}, action_size={spec.action_size}, discrete={spec.discrete}; "
                f"N={n} transitions, from 'obs')")


def _check_finite(demos: Demos, where: str) -> None:
    n = demos.obs.shape[0]
    for name in ("obs", "next_obs", "action", "reward", "mask"):
        x = getattr(demos, name)
        if x.dtype.kind != "f":
            continue
        bad = ~np.isfinite(x.reshape(n, -1)).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            raise DemosError(f"{where}: non-finite value in {name!r} at row {row} "
                             f"(episode {int(demos.episode[row])}): {x[row].tolist()}")


def _check_actions(demos: Demos, spec: EnvSpec, where: str) -> None:
    if not spec.discrete:
        _check_action_bounds(demos, spec, where)
        return
    bad = (demos.action < 0) | (demos.action >= spec.action_size)
    if bad.any():
        row = int(np.argmax(bad))
        raise DemosError(f"{where}: action {int(demos.action[row])} at row {row} (episode "
                         f"{int(demos.episode[row])}) is outside [0, {spec.action_size}) for env {spec.name!r}")


def _check_action_bounds(demos: Demos, spec: EnvSpec, where: str) -> None:
    """Continuous actions lie within the env's bounds (which the env would clip them to)."""
    if spec.action_low is None or spec.action_high is None:
        return
    low, high = (np.asarray(b, np.float32) for b in (spec.action_low, spec.action_high))
    bad = (demos.action < low) | (demos.action > high)
    if bad.any():
        row, dim = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise DemosError(f"{where}: action {demos.action[row].tolist()} at row {row} (episode "
                         f"{int(demos.episode[row])}) is outside the bounds of env {spec.name!r} in dimension "
                         f"{dim}: [{low[dim]}, {high[dim]}]")


def _check_mask(demos: Demos, where: str) -> None:
    mask = demos.mask
    odd = (mask != 0) & (mask != 1)
    if odd.any():
        row = int(np.argmax(odd))
        raise DemosError(f"{where}: mask must be 1 (real) or 0 (padding); row {row} has {mask[row]}")
    if not mask.any():
        raise DemosError(f"{where}: no real transitions (mask is 0 on every row)")
    # Padding goes last, so the real rows are a prefix and episode structure stays simple.
    real_after_pad = (mask == 1) & (np.cumsum(mask == 0) > 0)
    if real_after_pad.any():
        raise DemosError(f"{where}: padding rows (mask 0) must come after all real transitions; "
                         f"row {int(np.argmax(real_after_pad))} is real but follows padding")


def _check_episode_ids(demos: Demos, where: str) -> None:
    ep = demos.episode[demos.mask == 1]
    steps = np.diff(ep, prepend=ep[0])
    bad = (steps < 0) | (steps > 1)
    bad[0] = ep[0] != 0
    if bad.any():
        row = int(np.argmax(bad))
        after = f"after episode {int(ep[row - 1])}" if row else "as its first row, expected 0"
        raise DemosError(f"{where}: episode ids must run 0, 1, 2, ... and be non-decreasing (each episode's "
                         f"rows contiguous, in time order); row {row} has episode {int(ep[row])} {after}")


def num_episodes(demos: Demos) -> int:
    """Number of episodes among the real (unmasked) transitions."""
    ep = np.asarray(demos.episode)[np.asarray(demos.mask) == 1]
    return int(ep.max()) + 1 if ep.size else 0


def check_env(recorded: EnvSpec, target: EnvSpec, where: str = "demos") -> None:
    """Demos recorded on ``recorded`` can be used with an env of spec ``target``."""
    if recorded.name != target.name:
        raise DemosError(f"{where}: demos were recorded on {recorded.name!r} but the env is {target.name!r}")
    for field in ("obs_size", "action_size", "discrete"):
        a, b = getattr(recorded, field), getattr(target, field)
        if a != b:
            raise DemosError(f"{where}: {field} differs: demos have {a}, env {target.name!r} has {b}")


# ---- collection ----------------------------------------------------------------------

def collect(env: Env, act: ActFn, params: Any, key: jax.Array, num_episodes: int) -> tuple[Demos, np.ndarray]:
    """Records the first episode of each of ``num_episodes`` parallel envs.

    ``act(params, obs [B, obs_size], key) -> action [B]`` (discrete) or
    ``[B, action_size]``: the batched policy shape that :func:`jaxil.eval.evaluate`
    and :func:`jaxil.policy.make_act` use, so for the same ``key`` the returns here
    equal ``evaluate``'s. Returns host-side Demos (numpy, canonical dtypes) whose
    episodes ``0 .. num_episodes-1`` are contiguous and in time order, continuous
    actions clipped to the env's bounds as the env applied them, and the episode
    returns ``[num_episodes]`` as the env counted them (``EnvState.episode_return``).
    """
    if num_episodes < 1:
        raise InputError(f"num_episodes must be >= 1, got {num_episodes}")
    rows, alive, returns = _rollout(params, key, env=env, act=act, num_episodes=int(num_episodes))
    rows, alive = jax.device_get((rows, alive))
    # Time-major [T, E] -> episode-major [E, T]; keep each env's steps up to its first end.
    keep = alive.T
    obs, action, next_obs, reward, terminated, truncated = (np.swapaxes(x, 0, 1)[keep] for x in rows)
    episode = np.repeat(np.arange(num_episodes, dtype=np.int32), keep.sum(axis=1))
    demos = make_demos(obs, action, next_obs, reward, terminated, truncated, episode)
    return demos, np.asarray(returns, np.float64)


# The env and policy are static, so repeated collections with the same objects reuse
# one compilation; params and key are traced.
@functools.partial(jax.jit, static_argnames=("env", "act", "num_episodes"))
def _rollout(params, key, *, env: Env, act: ActFn, num_episodes: int):
    spec = env.spec
    # Same key use as jaxil.eval.evaluate, so both see identical episodes.
    k_reset, k_act = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))

    def one_step(carry, k):
        state, alive, returns = carry
        action = _stored_action(spec, act(params, state.obs, k), num_episodes)
        nxt = jax.vmap(env.step)(state, action)
        row = (state.obs, action, nxt.next_obs, nxt.reward, nxt.terminated, nxt.truncated)
        returns = jnp.where(alive & nxt.done, nxt.episode_return, returns)
        return (nxt, alive & ~nxt.done, returns), (row, alive)

    init = (state, jnp.ones(num_episodes, bool), jnp.zeros(num_episodes, jnp.float32))
    (_, _, returns), (rows, alive) = jax.lax.scan(one_step, init, jax.random.split(k_act, spec.max_episode_steps))
    return rows, alive, returns


def _stored_action(spec: EnvSpec, action: jax.Array, batch: int) -> jax.Array:
    expected = (batch, *spec.action_shape)
    if jnp.shape(action) != expected:
        raise InputError(
            f"act returned actions of shape {jnp.shape(action)} for a batch of {batch} observations; expected "
            f"{expected}. act maps obs [B, obs_size] to actions [B] (discrete) or [B, action_size]")
    if spec.discrete:
        return jnp.asarray(action, jnp.int32)
    # The same clip the env applies, so the stored action is the one that acted.
    low, high = spec.action_bounds()
    return jnp.clip(jnp.asarray(action, jnp.float32), low, high)


# ---- slicing (host side) -------------------------------------------------------------

def episode_returns(demos: Demos) -> np.ndarray:
    """Sum of rewards of each episode ``[E]`` (float64), over real transitions only."""
    real = np.asarray(demos.mask) == 1
    ep = np.asarray(demos.episode)[real]
    reward = np.asarray(demos.reward, np.float64)[real]
    return np.bincount(ep, weights=reward, minlength=num_episodes(demos)).astype(np.float64)


def _real_rows(demos: Demos) -> Demos:
    demos = to_numpy(demos)
    return _take(demos, np.flatnonzero(demos.mask == 1))


def _take(demos: Demos, idx: np.ndarray) -> Demos:
    return Demos(*(x[idx] for x in demos))


def _episode_bounds(episode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start row and length of each episode, for contiguous ids ``0 .. E-1``."""
    lengths = np.bincount(episode)
    return np.cumsum(lengths) - lengths, lengths


def select_trajectories(demos: Demos, n: int, key: jax.Array | None = None, pad_to: int | None = None) -> Demos:
    """The first ``n`` episodes (or ``n`` random ones, in their original order, given ``key``).

    Episodes are re-indexed ``0 .. n-1``. With ``pad_to`` the result has exactly
    ``pad_to`` rows (see :func:`pad`), so subsets of different sizes share one shape.
    """
    demos = _real_rows(demos)
    starts, lengths = _episode_bounds(demos.episode)
    if not 1 <= n <= len(starts):
        raise InputError(f"cannot select {n} trajectories: the demos hold {len(starts)}")
    if key is None:
        chosen = np.arange(n)
    else:
        chosen = np.sort(np.asarray(jax.random.choice(key, len(starts), (n,), replace=False)))
    idx = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in chosen])
    out = _take(demos, idx)._replace(episode=np.repeat(np.arange(n, dtype=np.int32), lengths[chosen]))
    return out if pad_to is None else pad(out, pad_to)


def pad(demos: Demos, size: int) -> Demos:
    """Pads to exactly ``size`` rows with copies of row 0 whose ``mask`` is 0.

    Copies of a real row keep every array finite and in range, so padded rows are
    harmless wherever the mask is not applied.
    """
    demos = _real_rows(demos)
    n = demos.obs.shape[0]
    if size < n:
        raise InputError(f"pad_to={size} is smaller than the {n} transitions selected")
    out = _take(demos, np.concatenate([np.arange(n), np.zeros(size - n, np.int64)]))
    return out._replace(mask=(np.arange(size) < n).astype(np.float32))


def stack_subsets(demos: Demos, counts, repeats: int = 1) -> Demos:
    """The first ``k`` trajectories for each ``k`` in ``counts``, padded to one shape and stacked.

    The result has a leading run axis of ``len(counts) * repeats`` in subset-major
    order (run ``i`` uses ``counts[i // repeats]``), ready for
    ``jaxil.loop.run(..., demos_axis=0)``: every run trains on its own subset, all in
    one compilation.
    """
    counts = [int(k) for k in counts]
    if not counts or repeats < 1:
        raise InputError(f"need at least one count and repeats >= 1, got counts={counts}, repeats={repeats}")
    subsets = [select_trajectories(demos, k) for k in counts]
    size = max(s.obs.shape[0] for s in subsets)
    padded = [pad(s, size) for s in subsets for _ in range(repeats)]
    return Demos(*(np.stack(xs) for xs in zip(*padded)))


def subsample(demos: Demos, every: int, offset: int = 0, key: jax.Array | None = None) -> Demos:
    """Every ``every``-th transition of each episode, starting at ``offset``.

    With ``key``, each episode gets its own random offset in ``[0, every)`` instead,
    as in GAIL's experiments (every 20th step from a random start); an episode
    shorter than ``every`` draws it within its length, so it keeps a transition.
    Padding is dropped; episode ids are unchanged.
    """
    if every < 1 or not 0 <= offset < every:
        raise InputError(f"need every >= 1 and 0 <= offset < every, got every={every}, offset={offset}")
    demos = _real_rows(demos)
    starts, lengths = _episode_bounds(demos.episode)
    if key is None:
        offsets = np.full(len(starts), offset)
        short = np.flatnonzero(lengths <= offset)
        if short.size:
            raise InputError(f"episode {short[0]} has {lengths[short[0]]} transitions, none at offset {offset}")
    else:
        offsets = np.asarray(jax.random.randint(key, (len(starts),), 0, np.minimum(every, lengths)))
    idx = np.concatenate([np.arange(s + o, s + n, every) for s, n, o in zip(starts, lengths, offsets)])
    return _take(demos, idx)


__all__ = ["FORMAT", "DEMO_FIELDS", "DemosError", "DemosMeta", "make_demos", "validate", "check_dtypes",
           "check_env", "num_episodes", "collect", "episode_returns", "select_trajectories", "pad", "subsample",
           "stack_subsets", "to_jax", "to_numpy"]
