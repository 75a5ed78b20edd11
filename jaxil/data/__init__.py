"""Demonstrations: the ``Demos`` pytree, collection, slicing, validated save/load."""

from jaxil.data.demos import (
    DemosError,
    DemosMeta,
    check_env,
    collect,
    episode_returns,
    make_demos,
    num_episodes,
    pad,
    select_trajectories,
    stack_subsets,
    subsample,
    to_jax,
    to_numpy,
    validate,
)
from jaxil.data.io import demos_paths, load_demos, save_demos
from jaxil.types import Demos

__all__ = [
    "Demos", "DemosError", "DemosMeta", "check_env", "collect", "demos_paths", "episode_returns", "load_demos",
    "make_demos", "num_episodes", "pad", "save_demos", "select_trajectories", "stack_subsets", "subsample", "to_jax", "to_numpy",
    "validate",
]
