"""``OUT/results.json``: the one summary every training command writes."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from typing import Any, Sequence

import jax
import numpy as np

from jaxil.fileio import write_atomic


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if hasattr(x, "_asdict"):
        return {k: _jsonable(v) for k, v in x._asdict().items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(x).tolist())
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None  # JSON has no NaN; null says "not available"
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def versions() -> dict:
    import jaxil

    return {"jaxil": jaxil.__version__, "jax": jax.__version__, "python": platform.python_version(),
            "backend": jax.default_backend()}


def write_results(
    out: str,
    *,
    algo: str,
    env: str,
    returns: Sequence[float],
    normalized_returns: Sequence[float] | None,
    env_steps: int,
    wall_s: float,
    config: Any,
    hparams: Any,
    **extra: Any,
) -> dict:
    """Writes ``out/results.json`` atomically and returns the dict written."""
    os.makedirs(out, exist_ok=True)
    result = {
        "algo": algo,
        "env": env,
        "num_seeds": len(returns),
        "return": list(returns),
        "normalized_return": None if normalized_returns is None else list(normalized_returns),
        "env_steps": int(env_steps),
        "wall_s": float(wall_s),
        "config": config,
        "hparams": hparams,
        "versions": versions(),
        **extra,
    }
    result = _jsonable(result)
    write_atomic(os.path.join(out, "results.json"), json.dumps(result, indent=2).encode())
    return result
