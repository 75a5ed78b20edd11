"""Inner-loop RL: PPO and SAC, pure and vmappable, with injectable rewards."""

from jaxil.rl import ppo

ALGOS = {"ppo": ppo}
try:  # SAC lives in its own module; PPO works without it
    from jaxil.rl import sac

    ALGOS["sac"] = sac
except ImportError:  # pragma: no cover
    pass
