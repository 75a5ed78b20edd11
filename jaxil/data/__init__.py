"""Demonstrations: the ``Demos`` pytree, collection, slicing, validated save/load, importers."""

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
from jaxil.data.importers import (
    from_arrays,
    from_imitation,
    from_minari,
    load_any,
    load_arrays,
    to_minari,
)
from jaxil.data.io import demos_paths, load_demos, save_demos
from jaxil.types import Demos

__all__ = [
    "Demos", "DemosError", "DemosMeta", "check_env", "collect", "demos_paths", "episode_returns", "from_arrays",
    "from_imitation", "from_minari", "load_any", "load_arrays", "load_demos", "make_demos", "num_episodes", "pad",
    "save_demos", "select_trajectories", "stack_subsets", "subsample", "to_jax", "to_minari", "to_numpy", "validate",
]
