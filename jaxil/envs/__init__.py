"""Environments: one protocol (:class:`Env`), adapters for gymnax and Brax, ``make``."""

from __future__ import annotations

from jaxil.envs.brax_env import BRAX_TASKS, BraxCore
from jaxil.envs.core import CoreEnv, Env, EnvSpec, EnvState, EpisodeEnv
from jaxil.envs.gymnax_env import GYMNAX_TASKS, GymnaxCore
from jaxil.envs.point_maze import PointMazeCore
from jaxil.envs.tabular import TABULAR_TASKS, TabularMDP, tabular_core
from jaxil.validate import unknown_name

OWN_TASKS = {"point_maze": PointMazeCore}

__all__ = ["Env", "EnvSpec", "EnvState", "EpisodeEnv", "CoreEnv", "TabularMDP", "make", "names", "spec_of"]


def names() -> list[str]:
    """All names :func:`make` accepts."""
    return sorted([*GYMNAX_TASKS, *BRAX_TASKS, *TABULAR_TASKS, *OWN_TASKS])


def make(name: str, max_episode_steps: int | None = None, reset: str = "auto", **options) -> EpisodeEnv:
    """Builds the named env wrapped in jaxil's time-limit / auto-reset wrapper.

    ``reset`` picks fresh or cached initial states at auto-reset (see
    :class:`EpisodeEnv`). Options go to the backend: gymnax ``EnvParams`` fields (e.g. ``g=12.0`` for
    pendulum), Brax arguments (``backend="generalized"``, ``episode_length``...) or
    tabular generator arguments (``obs="features"``, ``seed=3``, ``slip=0.2``; see
    :mod:`jaxil.envs.tabular`, whose envs default to the MDP's horizon as time limit) or
    jaxil's own tasks (``make("point_maze", wall="right")``, see :mod:`jaxil.envs.point_maze`).
    """
    if name in GYMNAX_TASKS:
        core: CoreEnv = GymnaxCore(name, **options)
    elif name in BRAX_TASKS:
        core = BraxCore(name, **options)
    elif name in TABULAR_TASKS:
        core = tabular_core(name, **options)
    elif name in OWN_TASKS:
        core = OWN_TASKS[name](**options)
    else:
        raise unknown_name("env", name, names())
    return EpisodeEnv(core, max_episode_steps, reset)


def spec_of(name: str, **options) -> EnvSpec:
    return make(name, **options).spec
