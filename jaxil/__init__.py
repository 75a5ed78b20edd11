"""jaxil: JAX-accelerated imitation learning.

Every algorithm is a pure ``make_train(config, env) -> Trainer`` whose ``init`` and
``step`` are jit-compiled and vmapped over seeds and hyperparameters.
"""

__version__ = "0.1.0"

import os as _os

# Precautions on CPU, set before the first computation (JAXIL_KEEP_XLA_FLAGS=1 leaves
# XLA_FLAGS untouched): single-threaded Eigen, and no concurrency-optimised scheduler.
# Both were workarounds for runs that hung idle forever on 2-core machines, before the
# cause was found: batched LAPACK calls deadlocking XLA's CPU pool (see jaxil.lapack,
# which now avoids them). Neither changes anything on GPU/TPU.
if not _os.environ.get("JAXIL_KEEP_XLA_FLAGS") and "xla_cpu_multi_thread_eigen" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
if not _os.environ.get("JAXIL_KEEP_XLA_FLAGS") and "concurrency_optimized_scheduler" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] += " --xla_cpu_enable_concurrency_optimized_scheduler=false"


def set_cpu_device_count(count: int | None = None) -> int:
    """Expose the CPU as ``count`` XLA host devices (default: one per core), so that a
    batch of vmapped runs is split over the cores (:func:`jaxil.loop.run_sharding`).

    XLA runs one program's small kernels mostly on one core; split over per-core
    devices, each core trains its share of the runs (on 2 cores, 64 PPO seeds took
    0.44x the time of the same program on one device). Like ``XLA_FLAGS``, this must
    come before JAX's first computation. A count already in ``XLA_FLAGS`` wins and is
    returned. The ``jaxil`` command calls this first (``JAXIL_CPU_DEVICES=1`` opts
    out); a library user calls it at the top of a script. Ignored by GPU/TPU backends.
    """
    import re

    count = (_os.cpu_count() or 1) if count is None else count
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InputError(f"set_cpu_device_count: count must be a positive int, got {count!r}")
    flags = _os.environ.get("XLA_FLAGS", "")
    found = re.search(r"xla_force_host_platform_device_count=(\d+)", flags)
    if found:
        return int(found.group(1))
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        import jax

        raise RuntimeError(f"set_cpu_device_count({count}) must come before JAX's first computation: the backend "
                           f"is already running with {jax.local_device_count()} device(s). Call it at the top of "
                           f"the script, or start Python with XLA_FLAGS=--xla_force_host_platform_device_count={count}")
    _os.environ["XLA_FLAGS"] = (flags + f" --xla_force_host_platform_device_count={count}").strip()
    return count


from jaxil import algos, data, envs, eval, loop, nets, policy, rl  # noqa: E402
from jaxil.envs import Env, EnvSpec, EnvState, make  # noqa: E402
from jaxil.errors import InputError  # noqa: E402
from jaxil.eval import evaluate, normalized_score  # noqa: E402
from jaxil.loop import Trainer, run  # noqa: E402
from jaxil.policy import PolicySpec, load_policy, save_policy  # noqa: E402
from jaxil.types import Demos, Transition  # noqa: E402

__all__ = [
    "Demos", "Env", "EnvSpec", "EnvState", "PolicySpec", "Trainer", "Transition",
    "algos", "data", "envs", "eval", "evaluate", "load_policy", "loop", "make", "nets", "normalized_score",
    "policy", "rl", "run", "save_policy", "set_cpu_device_count",
]
