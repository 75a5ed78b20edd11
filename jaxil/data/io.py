"""Demos on disk: ``NAME.npz`` (arrays) + ``NAME.json`` (metadata), validated on load."""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import math
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
from jaxil.envs import EnvSpec, spec_of
from jaxil.types import Demos


CHECKSUM_KEY = "arrays_sha256"
"""Metadata key holding the SHA-256 of the .npz saved with it (absent in older files)."""


def demos_paths(path: str) -> tuple[str, str]:
    """``(npz, json)`` paths for ``dir/NAME``, ``dir/NAME.npz`` or ``dir/NAME.json``."""
    base, ext = os.path.splitext(path)
    base = base if ext in (".npz", ".json") else path
    return base + ".npz", base + ".json"


def save_demos(path: str, demos: Demos, meta: DemosMeta) -> str:
    """Validates, then writes the .npz and then the .json, each atomically; returns the npz path.

    Arrays are stored under their field names (``mask`` only when there is padding);
    the metadata records the arrays' SHA-256, so a pair whose halves come from
    different saves is refused on load. Nothing on disk changes when validation or
    encoding fails; a write that fails (disk full, interrupt) puts the previous .npz
    back, so the existing pair stays whole.
    """
    npz, js = demos_paths(path)
    demos = make_demos(*to_numpy(demos))
    validate(demos, meta.env, where=npz)
    _check_returns(meta, demos, where=npz)
    # Encode both files before writing either, so a bad field cannot leave a new .npz
    # beside a stale .json.
    npz_bytes = _encode_arrays(demos)
    json_bytes = _encode_meta(meta, hashlib.sha256(npz_bytes).hexdigest(), where=js)
    os.makedirs(os.path.dirname(os.path.abspath(npz)), exist_ok=True)
    _write_pair(npz, npz_bytes, js, json_bytes)
    return npz


def _write_pair(npz: str, npz_bytes: bytes, js: str, json_bytes: bytes) -> None:
    previous = _read_bytes(npz) if os.path.isfile(npz) else None
    write_atomic(npz, npz_bytes)
    try:
        write_atomic(js, json_bytes)
    except BaseException:
        if previous is None:
            os.remove(npz)
        else:
            write_atomic(npz, previous)
        raise


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _encode_arrays(demos: Demos) -> bytes:
    arrays = {name: getattr(demos, name) for name in DEMO_FIELDS}
    if not np.all(demos.mask == 1):
        arrays["mask"] = demos.mask
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _encode_meta(meta: DemosMeta, arrays_sha256: str, where: str) -> bytes:
    try:
        return json.dumps({**meta.to_dict(), CHECKSUM_KEY: arrays_sha256}, indent=2, allow_nan=False).encode()
    except ValueError as e:  # NaN or inf in returns: strict JSON has no spelling for them
        raise DemosError(f"{where}: metadata must be finite to be saved as JSON ({e})") from e


def load_demos(path: str, env=None) -> tuple[Demos, DemosMeta]:
    """Loads and validates demos saved by :func:`save_demos`; jnp arrays, canonical dtypes.

    ``env`` (an Env, EnvSpec or env name) adds a compatibility check. Raises
    :class:`FileNotFoundError` naming a missing file, and :class:`DemosError` naming
    the file and what is wrong (for bad values, the first bad row and its episode).
    """
    npz, js = demos_paths(path)
    for p, what in ((npz, "demos arrays"), (js, "demos metadata")):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{what} not found: {p}")
    meta, checksum = _read_meta(js)
    blob = _read_bytes(npz)
    arrays = _read_arrays(blob, npz)
    check_dtypes(arrays, meta.env, where=npz)  # before casting, which would hide a wrong kind
    demos = make_demos(**arrays)
    validate(demos, meta.env, where=npz)
    _check_returns(meta, demos, where=npz)
    # Last, so that damaged or edited arrays get the specific message above first.
    if checksum is not None and hashlib.sha256(blob).hexdigest() != checksum:
        raise DemosError(f"{npz}: the arrays are not the ones saved with {os.path.basename(js)} (their SHA-256 "
                         f"differs from the metadata's {CHECKSUM_KEY!r}): the file was changed or replaced, or a "
                         f"save was interrupted. Save arrays and metadata together with jaxil.data.save_demos.")
    if env is not None:
        check_env(meta.env, env_spec(env), where=npz)
    return to_jax(demos), meta


def env_spec(env) -> EnvSpec:
    """The spec of ``env``: an Env, an EnvSpec, or a name for :func:`jaxil.envs.make`."""
    if isinstance(env, str):
        return spec_of(env)
    spec = getattr(env, "spec", env)
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"env must be an Env, an EnvSpec or an env name, got {type(env).__name__}")
    return spec


def _read_meta(js: str) -> tuple[DemosMeta, str | None]:
    """The metadata and the arrays' checksum it records (None in files from older versions)."""
    try:
        with open(js, "rb") as f:
            d = json.loads(f.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise DemosError(f"{js}: metadata is not valid JSON ({e})") from e
    if not isinstance(d, dict):
        raise DemosError(f"{js}: metadata must be a JSON object, got {type(d).__name__}")
    try:
        meta = DemosMeta.from_dict(d)
    except KeyError as e:
        raise DemosError(f"{js}: metadata is missing or has a malformed field: no {e.args[0]!r}") from e
    except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
        raise DemosError(f"{js}: metadata is missing or has a malformed field ({e})") from e
    _check_spec(meta.env, js)
    checksum = d.get(CHECKSUM_KEY)
    if checksum is not None and not isinstance(checksum, str):
        raise DemosError(f"{js}: {CHECKSUM_KEY!r} must be a hex string, got {checksum!r}")
    return meta, checksum


def _check_spec(spec: EnvSpec, js: str) -> None:
    """The env spec of a metadata file has the types and ranges a real env's spec has."""
    def bad(field: str, what: str):
        return DemosError(f"{js}: env.{field} must be {what}, got {getattr(spec, field)!r}")

    if not isinstance(spec.name, str) or not spec.name:
        raise bad("name", "a non-empty string")
    for field in ("obs_size", "action_size", "max_episode_steps"):
        value = getattr(spec, field)
        if type(value) is not int or value < 1:
            raise bad(field, "a positive integer")
    if type(spec.discrete) is not bool:
        raise bad("discrete", "true or false")
    for field in ("action_low", "action_high"):
        bounds = getattr(spec, field)
        if bounds is not None and (len(bounds) != spec.action_size or not all(map(math.isfinite, bounds))):
            raise bad(field, f"null or {spec.action_size} finite numbers")
    for key, value in spec.options:
        if not isinstance(value, (str, int, float, bool, type(None))):
            raise DemosError(f"{js}: env option {key!r} must be a string, number, boolean or null, got {value!r}")


# What a damaged archive raises varies with where the damage is: the zip directory,
# a member's header (a flipped flag bit makes it "encrypted": RuntimeError), its
# compressed stream (whose method byte may itself be damaged, selecting bzip2 or lzma,
# or no known method), or its checksum.
_ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, OSError, EOFError, ValueError, RuntimeError,
                   NotImplementedError, OverflowError, RecursionError, MemoryError)


def _read_arrays(blob: bytes, npz: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(io.BytesIO(blob), allow_pickle=False)
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
        _check_member_size(archive, name, npz)
        return archive[name]
    except DemosError:
        raise
    except _ARCHIVE_ERRORS as e:
        raise DemosError(f"{npz}: array {name!r} is unreadable (truncated or corrupt?): {e}") from e


def _check_member_size(archive, name: str, npz: str) -> None:
    """The shape in a member's header fits in the member, checked before numpy allocates it.

    A damaged header can claim any shape; numpy would allocate that much memory
    before noticing that the data runs out.
    """
    info = archive.zip.getinfo(f"{name}.npy")
    with archive.zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # numpy's own reader refuses it, with its reason
            return
        available = info.file_size - f.tell()
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > available:
        raise DemosError(f"{npz}: array {name!r} claims shape {shape} of {dtype} ({claimed} bytes) but holds "
                         f"{available} bytes (truncated or corrupt?)")


def _check_returns(meta: DemosMeta, demos: Demos, where: str) -> None:
    n = num_episodes(demos)
    if meta.returns and len(meta.returns) != n:
        raise DemosError(f"{where}: metadata lists {len(meta.returns)} episode returns "
                         f"but the arrays hold {n} episodes")


__all__ = ["CHECKSUM_KEY", "demos_paths", "env_spec", "save_demos", "load_demos", "write_atomic"]
