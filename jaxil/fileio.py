"""Atomic file writes shared by policies, demos and run results."""

from __future__ import annotations

import os
import secrets


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
