"""Demos on disk: ``NAME.npz`` (arrays) + ``NAME.json`` (metadata), validated on load."""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib

import numpy as np

from jaxil.fileio import write_atomic
from jaxil.data.demos import (
    DEMO_FIELDS,
    DemosError,
    DemosMeta,
    check_dtypes,
    check_env,
    make_demos,
    num_episodes,
    to_jax,
    to_numpy,
    validate,
)
from jaxil.envs import EnvSpec
from jaxil.types import Demos


def demos_paths(path: str) -> tuple[str, str]:
    """``(npz, json)`` paths for ``dir/NAME``, ``dir/NAME.npz`` or ``dir/NAME.json``."""
    base, ext = os.path.splitext(path)
    base = base if ext in (".npz", ".json") else path
    return base + ".npz", base + ".json"


def save_demos(path: str, demos: Demos, meta: DemosMeta) -> str:
    """Validates, then writes the .npz and then the .json, each atomically; returns the npz path.

    Arrays are stored under their field names (``mask`` only when there is padding).
    Nothing on disk changes when validation or encoding fails, and an interrupted
    write leaves the previous file in place.
    """
    npz, js = demos_paths(path)
    demos = make_demos(*to_numpy(demos))
    validate(demos, meta.env, where=npz)
    _check_returns(meta, demos, where=npz)
    # Encode both files before writing either, so a bad field cannot leave a new .npz
    # beside a stale .json.
    npz_bytes, json_bytes = _encode_arrays(demos), _encode_meta(meta, where=js)
    os.makedirs(os.path.dirname(os.path.abspath(npz)), exist_ok=True)
    write_atomic(npz, npz_bytes)
    write_atomic(js, json_bytes)
    return npz


def _encode_arrays(demos: Demos) -> bytes:
    arrays = {name: getattr(demos, name) for name in DEMO_FIELDS}
    if not np.all(demos.mask == 1):
        arrays["mask"] = demos.mask
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _encode_meta(meta: DemosMeta, where: str) -> bytes:
    try:
        return json.dumps(meta.to_dict(), indent=2, allow_nan=False).encode()
    except ValueError as e:  # NaN or inf in returns: strict JSON has no spelling for them
        raise DemosError(f"{where}: metadata must be finite to be saved as JSON ({e})") from e


def load_demos(path: str, env=None) -> tuple[Demos, DemosMeta]:
    """Loads and validates demos saved by :func:`save_demos`; jnp arrays, canonical dtypes.

    ``env`` (an Env or EnvSpec) adds a compatibility check. Raises
    :class:`FileNotFoundError` naming a missing file, and :class:`DemosError` naming
    the file and what is wrong (for bad values, the first bad row and its episode).
    """
    npz, js = demos_paths(path)
    for p, what in ((npz, "demos arrays"), (js, "demos metadata")):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{what} not found: {p}")
    meta = _read_meta(js)
    arrays = _read_arrays(npz)
    check_dtypes(arrays, meta.env, where=npz)  # before casting, which would hide a wrong kind
    demos = make_demos(**arrays)
    validate(demos, meta.env, where=npz)
    _check_returns(meta, demos, where=npz)
    if env is not None:
        check_env(meta.env, _spec(env), where=npz)
    return to_jax(demos), meta


def _spec(env) -> EnvSpec:
    spec = getattr(env, "spec", env)
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"env must be an Env or an EnvSpec, got {type(env).__name__}")
    return spec


def _read_meta(js: str) -> DemosMeta:
    try:
        with open(js, "rb") as f:
            d = json.loads(f.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DemosError(f"{js}: metadata is not valid JSON ({e})") from e
    if not isinstance(d, dict):
        raise DemosError(f"{js}: metadata must be a JSON object, got {type(d).__name__}")
    try:
        return DemosMeta.from_dict(d)
    except KeyError as e:
        raise DemosError(f"{js}: metadata is missing or has a malformed field: no {e.args[0]!r}") from e
    except (TypeError, ValueError, AttributeError) as e:
        raise DemosError(f"{js}: metadata is missing or has a malformed field ({e})") from e


# What a damaged archive raises varies with where the damage is: the zip directory,
# a member's header, its compressed stream, or its checksum.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError)


def _read_arrays(npz: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(npz, allow_pickle=False)
    except _ARCHIVE_ERRORS as e:
        raise DemosError(f"{npz}: not a readable .npz archive (truncated or corrupt?): {e}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DemosError(f"{npz}: holds a single .npy array, not an .npz archive of named arrays")
    with archive:
        missing = [name for name in DEMO_FIELDS if name not in archive.files]
        if missing:
            raise DemosError(f"{npz}: missing array(s) {missing}; a demos file holds {list(DEMO_FIELDS)} "
                             f"(and 'mask' when padded), found {archive.files}")
        return {name: _read_member(archive, name, npz) for name in (*DEMO_FIELDS, "mask") if name in archive.files}


def _read_member(archive, name: str, npz: str) -> np.ndarray:
    try:
        return archive[name]
    except _ARCHIVE_ERRORS as e:
        raise DemosError(f"{npz}: array {name!r} is unreadable (truncated or corrupt?): {e}") from e


def _check_returns(meta: DemosMeta, demos: Demos, where: str) -> None:
    n = num_episodes(demos)
    if meta.returns and len(meta.returns) != n:
        raise DemosError(f"{where}: metadata lists {len(meta.returns)} episode returns "
                         f"but the arrays hold {n} episodes")


__all__ = ["demos_paths", "save_demos", "load_demos", "write_atomic"]
