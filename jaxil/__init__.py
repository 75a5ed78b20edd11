"""jaxil: JAX-accelerated imitation learning.

Every algorithm is a pure ``make_train(config, env) -> Trainer`` whose ``init`` and
``step`` are jit-compiled and vmapped over seeds and hyperparameters.
"""

__version__ = "0.1.0"

from jaxil import envs, eval, loop, nets, policy, rl  # noqa: E402
from jaxil.envs import Env, EnvSpec, EnvState, make  # noqa: E402
from jaxil.eval import evaluate, normalized_score  # noqa: E402
from jaxil.loop import Trainer, run  # noqa: E402
from jaxil.policy import PolicySpec, load_policy, save_policy  # noqa: E402
from jaxil.types import Demos, Transition  # noqa: E402

__all__ = [
    "Demos", "Env", "EnvSpec", "EnvState", "PolicySpec", "Trainer", "Transition",
    "envs", "eval", "evaluate", "load_policy", "loop", "make", "nets", "normalized_score",
    "policy", "rl", "run", "save_policy",
]
