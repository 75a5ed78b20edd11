"""Demos from and to the ecosystem: Minari datasets, the ``imitation`` library's
trajectory files, plain arrays in NumPy or HDF5 files; :func:`load_any` picks by name.

Every importer checks the data against the target env (spaces, shapes, dtypes,
finite values, action range) and returns host-side numpy :class:`Demos` in canonical
dtypes plus :class:`DemosMeta`; :func:`jaxil.data.to_jax` readies them for training,
:func:`jaxil.data.save_demos` keeps them. Failures raise :class:`DemosError` saying
which dataset, and what differs from the env.

Optional packages: ``minari`` (Minari datasets, ``pip install "jaxil[minari]"``),
``h5py`` (HDF5 arrays) and ``pyarrow`` (the ``imitation`` library's current format,
a HuggingFace ``datasets`` directory); each is imported only when needed.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from typing import Any, Iterable, NamedTuple

import numpy as np

from jaxil.data.demos import DemosError, DemosMeta, check_env, make_demos, to_jax, to_numpy, validate
from jaxil.data.io import _ARCHIVE_ERRORS, demos_paths, env_spec, load_demos
from jaxil.envs import EnvSpec
from jaxil.envs.gymnax_env import GYMNAX_TASKS
from jaxil.types import Demos

GYM_IDS = {name: gym_id for name, (gym_id, _) in GYMNAX_TASKS.items()}
"""Gymnasium id of each jaxil env that reimplements a Gymnasium env exactly."""

MINARI_META_KEY = "jaxil_demos"
"""Minari metadata key under which :func:`to_minari` keeps the jaxil metadata."""


class Episode(NamedTuple):
    """One episode as the ecosystem stores it: ``T + 1`` observations for ``T`` steps."""

    observations: Any  # [T + 1, obs_size]
    actions: Any  # [T] or [T, action_size]
    rewards: Any  # [T], or None where the source has none
    terminated: Any  # [T] bool
    truncated: Any  # [T] bool


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is needed for this: pip install \"jaxil[{extra}]\" ({e})") from e


# ---- episodes <-> Demos ----------------------------------------------------------------

def episodes_to_demos(episodes: Iterable[Episode], spec: EnvSpec, where: str) -> Demos:
    """Demos of episodes ``0, 1, ...`` in order (empty episodes are skipped), validated against ``spec``."""
    parts = [_episode_arrays(ep, i, where) for i, ep in enumerate(episodes)]
    parts = [p for p in parts if len(p["action"])]
    if not parts:
        raise DemosError(f"{where}: empty demos (no episode has a transition)")
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    episode = np.repeat(np.arange(len(parts)), [len(p["action"]) for p in parts])
    demos = make_demos(**columns, episode=episode)
    validate(demos, spec, where)
    return demos


def _episode_arrays(ep: Episode, index: int, where: str) -> dict[str, np.ndarray]:
    obs, actions = np.asarray(ep.observations), np.asarray(ep.actions)
    steps = len(actions) if actions.ndim else 0
    if obs.ndim == 0 or len(obs) != steps + 1:
        raise DemosError(f"{where}: episode {index} has {len(obs) if obs.ndim else 0} observations for {steps} "
                         f"actions; expected {steps + 1} (the first observation and one after each step)")
    flags = {}
    for name, x in (("reward", ep.rewards), ("terminated", ep.terminated), ("truncated", ep.truncated)):
        x = np.zeros(steps, np.float32 if name == "reward" else bool) if x is None else np.asarray(x)
        if x.shape != (steps,):
            raise DemosError(f"{where}: episode {index} has {name} of shape {x.shape} for {steps} steps")
        flags[name] = x
    return {"obs": obs[:-1], "action": actions, "next_obs": obs[1:], **flags}


def demos_to_episodes(demos: Demos, where: str = "demos") -> list[Episode]:
    """The real (unmasked) transitions of ``demos`` as episodes of ``T + 1`` observations.

    Needs each episode's transitions to follow on from one another (``next_obs`` of
    one row is ``obs`` of the next), which subsampled demos break.
    """
    demos = to_numpy(demos)
    real = demos.mask == 1
    demos = Demos(*(x[real] for x in demos))
    starts = np.flatnonzero(np.diff(demos.episode, prepend=-1))
    out = []
    for e, (a, b) in enumerate(zip(starts, [*starts[1:], len(demos.episode)])):
        gap = np.flatnonzero(np.any(demos.next_obs[a:b - 1] != demos.obs[a + 1:b], axis=-1))
        if gap.size:
            raise DemosError(f"{where}: episode {e} is not contiguous at row {a + gap[0]} (next_obs differs from "
                             f"the next row's obs), as in subsampled demos; episode datasets store one observation "
                             f"sequence per episode")
        obs = np.concatenate([demos.obs[a:b], demos.next_obs[b - 1:b]])
        out.append(Episode(obs, demos.action[a:b], demos.reward[a:b], demos.terminated[a:b], demos.truncated[a:b]))
    return out


def _returns(demos: Demos) -> tuple[float, ...]:
    return tuple(np.bincount(demos.episode, weights=demos.reward.astype(np.float64)))


def _ends_by_length(lengths, spec: EnvSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(terminated, truncated)`` of episode ends whose kind the source does not record.

    An episode as long as the env's time limit was truncated by it; a shorter one
    ended in a terminal state.
    """
    lengths = np.asarray(lengths)
    return lengths != spec.max_episode_steps, lengths == spec.max_episode_steps


# ---- Minari ----------------------------------------------------------------------------

def from_minari(dataset, env) -> tuple[Demos, DemosMeta]:
    """Demos of a Minari dataset: a ``MinariDataset``, a local dataset id, or a dataset directory.

    The dataset's observation and action spaces must match ``env`` (flat Box
    observations of the env's size; Discrete actions of its count, or a Box of its
    dimension and bounds), and a dataset recorded on a Gymnasium env that jaxil
    reimplements (``CartPole-v1`` ...) must target that env; the error lists every
    difference. Episode returns come from the rewards; Minari's reference scores
    become the expert / random returns. Datasets written by :func:`to_minari` give
    back the metadata that was exported with them.
    """
    ds = _open_minari(dataset)
    spec = env_spec(env)
    where = f"minari dataset {ds.id!r}"
    stored = _stored_meta(ds, where)
    diffs = space_differences(ds.observation_space, ds.action_space, spec)
    env_id = getattr(ds.env_spec, "id", None)
    if stored is None and env_id in GYM_IDS.values() and GYM_IDS.get(spec.name) != env_id:
        diffs.insert(0, f"it was recorded on {env_id} but the env is {spec.name!r}")
    if diffs:
        raise DemosError(f"{where} does not match env {spec.name!r}: " + "; ".join(diffs))
    if stored is not None:
        check_env(stored.env, spec, where)
    episodes = (Episode(e.observations, e.actions, e.rewards, e.terminations, e.truncations)
                for e in ds.iterate_episodes())
    demos = episodes_to_demos(episodes, spec, where)
    if stored is not None:
        return demos, stored
    return demos, DemosMeta(spec, _returns(demos), source=f"minari:{ds.id}",
                            expert_return=_minari_score(ds, "ref_max_score"),
                            random_return=_minari_score(ds, "ref_min_score"),
                            extra={"minari": {"dataset_id": ds.id, "env_id": env_id,
                                              "minari_version": ds.minari_version}})


def _open_minari(dataset):
    minari = _require("minari", "minari")
    if isinstance(dataset, minari.MinariDataset):
        return dataset
    path = os.fspath(dataset)
    if os.path.isdir(path):
        data_dir = path if os.path.isfile(os.path.join(path, "metadata.json")) else os.path.join(path, "data")
        try:
            return minari.MinariDataset(data_dir)
        except (ValueError, KeyError, AssertionError, OSError) as e:
            raise DemosError(f"{path}: not a readable Minari dataset directory ({e})") from e
    try:
        return minari.load_dataset(path)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no local Minari dataset {path!r} (looked under $MINARI_DATASETS_PATH or "
                                f"~/.minari/datasets); fetch it with `minari download {path}`") from e


def _minari_score(ds, key: str) -> float | None:
    value = ds.storage.metadata.get(key)
    return None if value is None else float(value)


def _stored_meta(ds, where: str) -> DemosMeta | None:
    raw = ds.storage.metadata.get(MINARI_META_KEY)
    if raw is None:
        return None
    try:
        return DemosMeta.from_dict(json.loads(raw) if isinstance(raw, str) else raw)
    except (KeyError, TypeError, ValueError) as e:
        raise DemosError(f"{where}: malformed jaxil metadata under {MINARI_META_KEY!r} ({e!r})") from e


def space_differences(observation_space, action_space, spec: EnvSpec) -> list[str]:
    """What differs between Gymnasium spaces and a jaxil env spec, one phrase each (empty: they match)."""
    from gymnasium import spaces

    diffs = []
    if not isinstance(observation_space, spaces.Box) or observation_space.shape != (spec.obs_size,):
        diffs.append(f"observations: the dataset has {_describe(observation_space)}, env {spec.name!r} observes "
                     f"a Box of shape ({spec.obs_size},)")
    if spec.discrete:
        if not isinstance(action_space, spaces.Discrete) or int(action_space.n) != spec.action_size \
                or int(action_space.start) != 0:
            diffs.append(f"actions: the dataset has {_describe(action_space)}, env {spec.name!r} has "
                         f"Discrete({spec.action_size})")
    elif not isinstance(action_space, spaces.Box) or action_space.shape != (spec.action_size,):
        diffs.append(f"actions: the dataset has {_describe(action_space)}, env {spec.name!r} takes a Box of shape "
                     f"({spec.action_size},)")
    elif spec.action_low is not None and not (np.allclose(action_space.low, spec.action_low)
                                              and np.allclose(action_space.high, spec.action_high)):
        diffs.append(f"action bounds: the dataset has low {action_space.low.tolist()} high "
                     f"{action_space.high.tolist()}, env {spec.name!r} has low {list(spec.action_low)} high "
                     f"{list(spec.action_high)}")
    return diffs


def _describe(space) -> str:
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return f"a Box of shape {space.shape}"
    if isinstance(space, spaces.Discrete):
        return f"Discrete({space.n})" if space.start == 0 else f"Discrete({space.n}, start={space.start})"
    return f"a {type(space).__name__} space"


def spaces_of(spec: EnvSpec):
    """Gymnasium ``(observation_space, action_space)`` of a jaxil env spec."""
    from gymnasium import spaces

    obs = spaces.Box(-np.inf, np.inf, (spec.obs_size,), np.float32)
    if spec.discrete:
        return obs, spaces.Discrete(spec.action_size)
    low = -np.inf if spec.action_low is None else np.asarray(spec.action_low, np.float32)
    high = np.inf if spec.action_high is None else np.asarray(spec.action_high, np.float32)
    return obs, spaces.Box(low, high, (spec.action_size,), np.float32)


def to_minari(demos: Demos, meta: DemosMeta, dataset_id: str, **minari_kwargs):
    """Writes ``demos`` as a new local Minari dataset ``dataset_id``; returns the ``MinariDataset``.

    Spaces come from ``meta.env``; an env that reimplements a Gymnasium env (and has
    no options) records that env's spec, so Minari can recreate it. The jaxil
    metadata is kept in the dataset's metadata, so :func:`from_minari` gives the same
    Demos and DemosMeta back. ``minari_kwargs`` (``author``, ``description`` ...) go to
    ``minari.create_dataset_from_buffers``. Needs contiguous episodes (see
    :func:`demos_to_episodes`).
    """
    minari = _require("minari", "minari")
    from minari.data_collector import EpisodeBuffer

    validate(demos, meta.env, where=f"demos for minari dataset {dataset_id!r}")
    episodes = demos_to_episodes(demos, where=f"demos for minari dataset {dataset_id!r}")
    buffers = [EpisodeBuffer(observations=ep.observations, actions=ep.actions, rewards=ep.rewards,
                             terminations=ep.terminated, truncations=ep.truncated) for ep in episodes]
    obs_space, action_space = spaces_of(meta.env)
    kwargs = {"algorithm_name": meta.source or "jaxil", "description": f"jaxil demos on {meta.env.name}",
              **_reference_scores(meta), **minari_kwargs}
    with warnings.catch_warnings():
        # Minari nags about every provenance field left empty; the jaxil metadata travels along.
        warnings.filterwarnings("ignore", message=r".*is set to None", category=UserWarning)
        ds = minari.create_dataset_from_buffers(dataset_id, buffers, env=_gym_spec(meta.env),
                                                observation_space=obs_space, action_space=action_space, **kwargs)
    ds.storage.update_metadata({MINARI_META_KEY: json.dumps(meta.to_dict())})
    return ds


def _gym_spec(spec: EnvSpec):
    if spec.name not in GYM_IDS or spec.options:
        return None
    import gymnasium

    return gymnasium.spec(GYM_IDS[spec.name])


def _reference_scores(meta: DemosMeta) -> dict:
    # Both or neither: given only a maximum, Minari rolls out a random policy for the minimum.
    if meta.expert_return is None or meta.random_return is None:
        return {}
    return {"ref_max_score": meta.expert_return, "ref_min_score": meta.random_return}


# ---- the imitation library's trajectories ---------------------------------------------

def from_imitation(path: str, env) -> tuple[Demos, DemosMeta]:
    """Demos of trajectories saved by the ``imitation`` library (without importing it).

    Reads its current format, a HuggingFace ``datasets`` directory (``imitation >= 1.0``,
    needs ``pyarrow``), and its earlier ``.npz`` (``0.3 - 0.4``). Trajectories hold
    ``T + 1`` observations; ``terminal`` marks a trajectory that ended, without telling
    a terminal state from a time limit: one exactly as long as the env's time limit
    counts as truncated, a shorter one as terminated, and one that did not end is
    truncated at its last step. Trajectories without rewards get reward 0 and no
    returns in the metadata.
    """
    spec = env_spec(env)
    where = f"imitation trajectories {path}"
    if os.path.isdir(path):
        trajectories = _read_imitation_arrow(path, where)
    elif _is_zip(path):
        trajectories = _read_imitation_npz(path, where)
    else:
        raise DemosError(f"{where}: neither a datasets directory nor an .npz archive; the pickle format of "
                         f"imitation < 0.3 needs imitation itself to read: load it there and save it again with "
                         f"imitation.data.serialize.save")
    lengths = [len(t["acts"]) for t in trajectories]
    terminated, truncated = _ends_by_length(lengths, spec)
    episodes = []
    for t, n, term, trunc in zip(trajectories, lengths, terminated, truncated):
        ended = bool(t["terminal"])
        end = np.arange(n) == n - 1
        episodes.append(Episode(t["obs"], t["acts"], t.get("rews"), end & ended & term, end & (trunc or not ended)))
    demos = episodes_to_demos(episodes, spec, where)
    has_rewards = all(t.get("rews") is not None for t in trajectories)
    return demos, DemosMeta(spec, _returns(demos) if has_rewards else (), source=f"imitation:{path}",
                            extra={"imitation": {"rewards": has_rewards}})


def _is_zip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _read_imitation_npz(path: str, where: str) -> list[dict]:
    """The layout of ``imitation.data.serialize.save`` in 0.3 - 0.4: trajectories concatenated,
    split at ``indices`` (each trajectory has one more observation than actions)."""
    arrays = _read_npz_arrays(path, where, wanted=("obs", "acts", "rews", "terminal", "indices"))
    missing = [k for k in ("obs", "acts", "terminal", "indices") if k not in arrays]
    if missing:
        raise DemosError(f"{where}: missing array(s) {missing} of imitation's .npz layout")
    indices = arrays["indices"].astype(np.int64)
    count = len(indices) + 1
    if len(arrays["terminal"]) != count or len(arrays["obs"]) != len(arrays["acts"]) + count:
        raise DemosError(f"{where}: {count} trajectories by 'indices' but {len(arrays['terminal'])} 'terminal' "
                         f"flags, {len(arrays['obs'])} observations for {len(arrays['acts'])} actions")
    obs = np.split(arrays["obs"], indices + np.arange(1, count))
    fields = {"acts": np.split(arrays["acts"], indices)}
    if "rews" in arrays:
        fields["rews"] = np.split(arrays["rews"], indices)
    return [{"obs": o, "terminal": arrays["terminal"][i], **{k: v[i] for k, v in fields.items()}}
            for i, o in enumerate(obs)]


def _read_imitation_arrow(path: str, where: str) -> list[dict]:
    """A ``datasets.Dataset.save_to_disk`` directory: Arrow stream files listed in ``state.json``."""
    pa = _require("pyarrow", "imitation-data")
    try:
        with open(os.path.join(path, "state.json")) as f:
            files = [d["filename"] for d in json.load(f)["_data_files"]]
        tables = []
        for name in files:
            with pa.OSFile(os.path.join(path, name), "rb") as source:
                tables.append(pa.ipc.open_stream(source).read_all())
        table = pa.concat_tables(tables)
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException) as e:
        raise DemosError(f"{where}: not a readable datasets directory ({e})") from e
    missing = [k for k in ("obs", "acts", "terminal") if k not in table.column_names]
    if missing:
        raise DemosError(f"{where}: missing column(s) {missing}; found {table.column_names}")
    # Per-trajectory lists: fine at demonstration scale (thousands of steps per trajectory).
    columns = {k: table.column(k).to_pylist() for k in ("obs", "acts", "rews", "terminal") if k in table.column_names}
    return [{k: (v[i] if k == "terminal" or v[i] is None else np.asarray(v[i])) for k, v in columns.items()}
            for i in range(table.num_rows)]


# ---- plain arrays ----------------------------------------------------------------------

ARRAY_KEYS = {
    "obs": ("obs", "observations", "states"),
    "actions": ("actions", "action", "acts"),
    "rewards": ("rewards", "reward", "rews"),
    "next_obs": ("next_obs", "next_observations"),
    "terminated": ("terminated", "terminals", "terminations"),
    "truncated": ("truncated", "timeouts", "truncations"),
    "dones": ("dones", "done"),
    "episode": ("episode", "episode_id"),
}
"""Names :func:`load_arrays` accepts for each array (D4RL's spellings included)."""


def from_arrays(env, obs, actions, rewards=None, dones=None, *, next_obs=None, terminated=None, truncated=None,
                episode=None, source: str = "arrays") -> tuple[Demos, DemosMeta]:
    """Demos of flat transition arrays ``[N, ...]`` in time order.

    Episodes end after each row where ``terminated`` / ``truncated`` (or ``dones``,
    which do not tell the two apart: see :func:`from_imitation`) is set, or where
    ``episode`` changes; without any of them the rows are one episode. Without
    ``next_obs``, a row's next observation is the following row's ``obs``, so the
    last row of each episode, whose successor is unknown, is dropped and the row
    before it marked truncated. Without ``rewards``: reward 0 and no returns.
    """
    spec = env_spec(env)
    obs, actions = _as_array("obs", obs, source), _as_array("actions", actions, source)
    n = len(obs)
    if n == 0:
        raise DemosError(f"{source}: empty demos (0 transitions)")
    if dones is not None and (terminated is not None or truncated is not None):
        raise DemosError(f"{source}: give either 'dones' or 'terminated' / 'truncated', not both")
    ids = _episode_ids(n, dones, terminated, truncated, episode, source)
    lengths = np.bincount(ids)
    if dones is not None:
        term_ep, trunc_ep = _ends_by_length(lengths, spec)
        ends = _as_flags("dones", dones, n, source)
        terminated, truncated = ends & term_ep[ids], ends & trunc_ep[ids]
    flags = [np.zeros(n, bool) if x is None else _as_flags(name, x, n, source)
             for name, x in (("terminated", terminated), ("truncated", truncated))]
    reward = np.zeros(n, np.float32) if rewards is None else _as_array("rewards", rewards, source)
    columns = dict(obs=obs, action=actions, reward=reward, terminated=flags[0], truncated=flags[1], episode=ids)
    if next_obs is None:
        columns = _successors_from_obs(columns, source)
    else:
        columns["next_obs"] = _as_array("next_obs", next_obs, source)
    demos = make_demos(**columns)
    validate(demos, spec, where=source)
    returns = _returns(demos) if rewards is not None else ()
    return demos, DemosMeta(spec, returns, source=source, extra={"arrays": {"rewards": rewards is not None}})


def _as_array(name: str, x, source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 0:
        raise DemosError(f"{source}: array {name!r} is a scalar; expected one entry per transition")
    return x


def _as_flags(name: str, x, n: int, source: str) -> np.ndarray:
    x = _as_array(name, x, source)
    if x.shape != (n,):
        raise DemosError(f"{source}: array {name!r} has shape {x.shape}, expected ({n},) like 'obs'")
    if x.dtype.kind not in "biuf" or not np.isin(x, (0, 1)).all():
        raise DemosError(f"{source}: array {name!r} must hold booleans or 0/1")
    return x.astype(bool)


def _episode_ids(n, dones, terminated, truncated, episode, source) -> np.ndarray:
    if episode is not None:
        ids = _as_array("episode", episode, source)
        if ids.shape != (n,) or ids.dtype.kind not in "iu":
            raise DemosError(f"{source}: array 'episode' must hold {n} integers, got {ids.dtype} {ids.shape}")
        return np.concatenate([[0], np.cumsum(np.diff(ids) != 0)]).astype(np.int32) if n else ids
    ends = np.zeros(n, bool)
    for name, x in (("dones", dones), ("terminated", terminated), ("truncated", truncated)):
        if x is not None:
            ends |= _as_flags(name, x, n, source)
    return np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int32) if n else np.zeros(0, np.int32)


def _successors_from_obs(columns: dict, source: str) -> dict:
    ids = columns["episode"]
    last = np.append(ids[1:] != ids[:-1], True)  # each episode's final row: no successor here
    keep = ~last
    if not keep.any():
        raise DemosError(f"{source}: no 'next_obs' given and every episode has a single row, so no transition "
                         f"has a known next observation")
    next_obs = np.concatenate([columns["obs"][1:], columns["obs"][:1]])
    out = {k: v[keep] for k, v in {**columns, "next_obs": next_obs}.items()}
    out["truncated"] = out["truncated"] | np.append(out["episode"][1:] != out["episode"][:-1], True)
    out["episode"] = np.concatenate([[0], np.cumsum(np.diff(out["episode"]) != 0)]).astype(np.int32)
    return out


def load_arrays(path: str, env) -> tuple[Demos, DemosMeta]:
    """:func:`from_arrays` on the arrays of an ``.npz`` or HDF5 file (top-level datasets).

    Arrays are found under any of the names in :data:`ARRAY_KEYS`.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext in (".h5", ".hdf5"):
        raw = _read_hdf5_arrays(path)
    else:
        raw = _read_npz_arrays(path, path, wanted=[k for names in ARRAY_KEYS.values() for k in names])
    found = {}
    for field, names in ARRAY_KEYS.items():
        present = [k for k in names if k in raw]
        if len(present) > 1:
            raise DemosError(f"{path}: arrays {present} are alternative names for {field!r}; keep one")
        if present:
            found[field] = raw[present[0]]
    for field in ("obs", "actions"):
        if field not in found:
            raise DemosError(f"{path}: no {field} array (looked for {list(ARRAY_KEYS[field])}; found {sorted(raw)})")
    return from_arrays(env, **found, source=path)


def _read_npz_arrays(path: str, where: str, wanted: Iterable[str]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in wanted if k in archive.files}
    except (*_ARCHIVE_ERRORS, AttributeError) as e:  # AttributeError: a single .npy array
        raise DemosError(f"{where}: not a readable .npz archive of numeric arrays ({e})") from e


def _read_hdf5_arrays(path: str) -> dict[str, np.ndarray]:
    h5py = _require("h5py", "hdf5")
    try:
        with h5py.File(path, "r") as f:
            return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    except OSError as e:
        raise DemosError(f"{path}: not a readable HDF5 file ({e})") from e


# ---- one entry point -------------------------------------------------------------------

def load_any(source: str, env) -> tuple[Demos, DemosMeta]:
    """Demos from whatever ``source`` names, checked against ``env``; jax arrays, like :func:`load_demos`.

    - ``minari:ID``: a local Minari dataset; a directory holding one (``metadata.json``
      or ``data/metadata.json``), or its ``main_data.hdf5``;
    - ``imitation:PATH``, or a directory of a ``datasets`` save: the imitation library's
      trajectories (also an ``.npz`` with its ``indices`` / ``acts`` layout);
    - ``NAME.npz`` with ``NAME.json`` beside it (or ``NAME.json`` / ``NAME``): jaxil's own format;
    - any other ``.npz``, ``.h5`` or ``.hdf5`` (or ``arrays:PATH``): plain arrays (:func:`load_arrays`);
    - ``mixed:ENV``: a mixed-quality dataset (expert, medium and random episodes, with
      rewards) built from ENV's shipped expert (:func:`jaxil.data.mixed.build`, key 0).
    """
    source = os.fspath(source)
    demos, meta = _dispatch(source, env)
    return to_jax(demos), meta


def _dispatch(source: str, env):
    prefix, sep, rest = source.partition(":")
    if sep and prefix in ("minari", "imitation", "arrays", "mixed"):
        return {"minari": from_minari, "imitation": from_imitation, "arrays": load_arrays,
                "mixed": _from_mixed}[prefix](rest, env)
    if os.path.isdir(source):
        return _dispatch_directory(source, env)
    ext = os.path.splitext(source)[1].lower()
    if ext in (".h5", ".hdf5"):
        parent = os.path.dirname(os.path.abspath(source))
        if os.path.isfile(os.path.join(parent, "metadata.json")):
            return from_minari(parent, env)
        return load_arrays(source, env)
    if ext in (".pkl", ".pickle"):
        return from_imitation(source, env)
    npz, js = demos_paths(source)
    if ext not in (".npz", ".json", "") and not os.path.isfile(npz):
        raise DemosError(f"{source}: unknown kind of demos; expected a jaxil NAME.npz + NAME.json, a Minari dataset "
                         f"(minari:ID or its directory), imitation trajectories, or .npz / .h5 / .hdf5 arrays")
    if os.path.isfile(js) or not os.path.isfile(npz):
        return load_demos(source, env)  # jaxil's pair (also: the error naming a missing half)
    keys = _npz_keys(npz)
    if {"indices", "acts"} <= keys:
        return from_imitation(npz, env)
    return load_arrays(npz, env)


def _from_mixed(env_name: str, env):
    from jaxil.data import mixed  # builds on jaxil.experts, which needs this package first

    import jax

    spec = env_spec(env)
    built = mixed.build(env_name or spec.name, jax.random.PRNGKey(0))
    check_env(built.meta.env, spec, where=f"mixed:{env_name}")
    return built.demos, built.meta


def _dispatch_directory(path: str, env):
    if any(os.path.isfile(os.path.join(path, *p, "metadata.json")) for p in ((), ("data",))):
        return from_minari(path, env)
    if os.path.isfile(os.path.join(path, "state.json")):
        return from_imitation(path, env)
    raise DemosError(f"{path}: a directory, but neither a Minari dataset (metadata.json) nor a saved datasets "
                     f"directory of imitation trajectories (state.json)")


def _npz_keys(path: str) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return set(archive.files)
    except (*_ARCHIVE_ERRORS, AttributeError) as e:
        raise DemosError(f"{path}: not a readable .npz archive ({e})") from e


__all__ = ["ARRAY_KEYS", "Episode", "GYM_IDS", "demos_to_episodes", "episodes_to_demos", "from_arrays",
           "from_imitation", "from_minari", "load_any", "load_arrays", "space_differences", "spaces_of",
           "to_minari"]
