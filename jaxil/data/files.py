"""Demos on disk: ``NAME.npz`` (arrays) + ``NAME.json`` (metadata), validated on load."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from jaxil.data.dataset import DemosError, DemosMeta, make_demos, to_jax, to_numpy
from jaxil.envs import EnvSpec
from jaxil.policy import _write_atomic
from jaxil.types import DEMO_FIELDS, Demos


def _paths(path: str) -> tuple[str, str]:
    base = path[:-4] if path.endswith(".npz") else path
    return base + ".npz", base + ".json"


def save_demos(path: str, demos: Demos, meta: DemosMeta) -> str:
    """Validates, then writes ``path`` (.npz) and its .json atomically; returns the npz path.

    Nothing on disk changes when validation fails, and an interrupted write leaves
    the previous files intact (each is written to a temporary file, then renamed).
    """
    npz, js = _paths(path)
    demos = to_numpy(demos)
    validate(demos, meta, where=npz)
    arrays = {name: np.asarray(getattr(demos, name)) for name in DEMO_FIELDS}
    if not np.all(demos.mask == 1.0):
        arrays["mask"] = np.asarray(demos.mask)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    os.makedirs(os.path.dirname(os.path.abspath(npz)), exist_ok=True)
    _write_atomic(npz, buf.getvalue())
    _write_atomic(js, json.dumps(meta.to_dict(), indent=2).encode())
    return npz


def load_demos(path: str, env=None) -> tuple[Demos, DemosMeta]:
    """Loads and validates demos; ``env`` (an Env or EnvSpec) adds a compatibility check.

    Raises :class:`DemosError` naming the file and what is wrong (and, for bad
    values, the first bad row and its episode).
    """
    npz, js = _paths(path)
    for p in (npz, js):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"demos file not found: {p}")
    meta = _read_meta(js)
    arrays = _read_arrays(npz)
    demos = make_demos(**arrays)
    validate(demos, meta, where=npz)
    if env is not None:
        check_env(meta.env, getattr(env, "spec", env), where=npz)
    return to_jax(demos), meta


def _read_meta(js: str) -> DemosMeta:
    try:
        with open(js) as f:
            return DemosMeta.from_dict(json.load(f))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DemosError(f"{js}: metadata is not valid JSON ({e})") from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DemosError(f"{js}: metadata is missing or has a malformed field ({e!r})") from e


def _read_arrays(npz: str) -> dict:
    try:
        with np.load(npz, allow_pickle=False) as f:
            names = set(f.files)
            missing = [n for n in DEMO_FIELDS if n not in names]
            if missing:
                raise DemosError(f"{npz}: missing array(s) {missing}; a demos file holds {list(DEMO_FIELDS)}")
            return {n: f[n] for n in (*DEMO_FIELDS, "mask") if n in names}
    except DemosError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise DemosError(f"{npz}: not a readable .npz archive (truncated or corrupt?): {e}") from e


def validate(demos: Demos, meta: DemosMeta, where: str = "demos") -> None:
    """Checks shapes, dtypes, finiteness and episode structure against ``meta.env``."""
    spec = meta.env
    n = demos.obs.shape[0] if demos.obs.ndim else 0
    if n == 0:
        raise DemosError(f"{where}: empty demos (0 transitions)")
    expected = {"obs": (n, spec.obs_size), "next_obs": (n, spec.obs_size), "action": (n, *spec.action_shape),
                "reward": (n,), "terminated": (n,), "truncated": (n,), "episode": (n,), "mask": (n,)}
    for name, shape in expected.items():
        got = np.shape(getattr(demos, name))
        if got != shape:
            raise DemosError(f"{where}: array {name!r} has shape {got}, expected {shape} "
                             f"for env {spec.name!r} (obs_size={spec.obs_size}, action_size={spec.action_size})")
    if spec.discrete and not np.issubdtype(np.asarray(demos.action).dtype, np.integer):
        raise DemosError(f"{where}: env {spec.name!r} has discrete actions but 'action' is {demos.action.dtype}")
    for name in ("obs", "next_obs", "action", "reward", "mask"):
        x = np.asarray(getattr(demos, name))
        bad = ~np.isfinite(x.reshape(n, -1)).all(1) if x.dtype.kind == "f" else np.zeros(n, bool)
        if bad.any():
            row = int(np.argmax(bad))
            raise DemosError(f"{where}: non-finite value in {name!r} at row {row} (episode {int(demos.episode[row])})")
    if spec.discrete:
        a = np.asarray(demos.action)
        bad = (a < 0) | (a >= spec.action_size)
        if bad.any():
            row = int(np.argmax(bad))
            raise DemosError(f"{where}: action {int(a[row])} at row {row} is outside [0, {spec.action_size})")
    ep = np.asarray(demos.episode)
    if np.any(np.diff(ep) < 0) or ep[0] < 0:
        row = int(np.argmax(np.diff(ep) < 0)) + 1 if np.any(np.diff(ep) < 0) else 0
        raise DemosError(f"{where}: episode ids must be non-negative and non-decreasing (rows of one episode "
                         f"contiguous, in time order); row {row} has episode {int(ep[row])}")
    n_eps = len(np.unique(ep))
    if meta.returns and len(meta.returns) != n_eps:
        raise DemosError(f"{where}: metadata lists {len(meta.returns)} episode returns but the arrays hold {n_eps} episodes")


def check_env(recorded: EnvSpec, target: EnvSpec, where: str = "demos") -> None:
    """Demos recorded on ``recorded`` can be used with an env of spec ``target``."""
    if recorded.name != target.name:
        raise DemosError(f"{where}: demos were recorded on {recorded.name!r} but the env is {target.name!r}")
    for field in ("obs_size", "action_size", "discrete"):
        a, b = getattr(recorded, field), getattr(target, field)
        if a != b:
            raise DemosError(f"{where}: {field} differs: demos have {a}, env {target.name!r} has {b}")
