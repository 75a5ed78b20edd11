"""Atomic file writes shared by policies, rewards, demos and run results, and the
``NAME.msgpack`` + ``NAME.json`` format of saved networks."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, Callable

from jaxil.errors import InputError


def write_atomic(path: str, data: bytes) -> None:
    """Replaces ``path`` by ``data`` in one step: readers see the old file or the new one.

    The temporary file lives in the same directory (``os.replace`` is only atomic
    within one file system) and is removed if anything fails.
    """
    tmp = f"{path}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        # os.open with 0o666 respects the umask, unlike tempfile's private 0o600 files.
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_params(directory: str, name: str, params: Any, meta: dict) -> None:
    """Writes ``directory/name.msgpack`` (the params pytree) and ``name.json`` (``meta``), each atomically."""
    import flax.serialization
    import jax
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    write_atomic(os.path.join(directory, f"{name}.msgpack"),
                 flax.serialization.to_bytes(jax.tree.map(np.asarray, params)))
    write_atomic(os.path.join(directory, f"{name}.json"), json.dumps(meta, indent=2).encode())


def load_params(directory: str, name: str, parse: Callable[[dict], Any], template: Callable[[Any], Any]):
    """Reads what :func:`save_params` wrote: ``(parse(meta), params, meta)``.

    ``parse`` turns the metadata into a spec (raising KeyError / TypeError / ValueError
    on bad content) and ``template(spec)`` gives a pytree of the params' structure.
    Missing files raise FileNotFoundError; corrupt ones a ValueError naming the file.
    """
    import flax.serialization
    import jax
    import jax.numpy as jnp

    meta_path = os.path.join(directory, f"{name}.json")
    blob_path = os.path.join(directory, f"{name}.msgpack")
    for p in (meta_path, blob_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"no saved {name} at {directory!r}: missing {os.path.basename(p)}")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        spec = parse(meta)
    except (KeyError, TypeError, ValueError) as e:  # ValueError covers JSONDecodeError
        raise InputError(f"corrupt {name} metadata {meta_path!r}: {e}") from e
    with open(blob_path, "rb") as f:
        blob = f.read()
    try:
        params = flax.serialization.from_bytes(template(spec), blob)
    except Exception as e:  # msgpack raises several unrelated types on bad bytes
        raise InputError(f"corrupt {name} params {blob_path!r}: {e}") from e
    return spec, jax.tree.map(jnp.asarray, params), meta
