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

from jaxil import algos, data, envs, eval, loop, nets, policy, rl  # noqa: E402
from jaxil.envs import Env, EnvSpec, EnvState, make  # noqa: E402
from jaxil.eval import evaluate, normalized_score  # noqa: E402
from jaxil.loop import Trainer, run  # noqa: E402
from jaxil.policy import PolicySpec, load_policy, save_policy  # noqa: E402
from jaxil.types import Demos, Transition  # noqa: E402

__all__ = [
    "Demos", "Env", "EnvSpec", "EnvState", "PolicySpec", "Trainer", "Transition",
    "algos", "data", "envs", "eval", "evaluate", "load_policy", "loop", "make", "nets", "normalized_score",
    "policy", "rl", "run", "save_policy",
]
