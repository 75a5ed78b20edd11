"""Demonstrations: the ``Demos`` pytree, collection, slicing, validated save/load."""

from jaxil.data.dataset import (
    DemosError,
    DemosMeta,
    collect,
    episode_returns,
    make_demos,
    pad,
    select_trajectories,
    subsample,
    summary,
    to_jax,
    to_numpy,
)
from jaxil.data.files import check_env, load_demos, save_demos, validate
from jaxil.types import Demos

__all__ = [
    "Demos", "DemosError", "DemosMeta", "check_env", "collect", "episode_returns", "load_demos", "make_demos",
    "pad", "save_demos", "select_trajectories", "subsample", "summary", "to_jax", "to_numpy", "validate",
]
