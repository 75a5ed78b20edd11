"""Shared pytrees: transitions and demonstrations."""

from __future__ import annotations

from typing import NamedTuple

import jax

DEMO_FIELDS = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "episode")


class Transition(NamedTuple):
    """A batch of environment transitions (any leading axes).

    ``next_obs`` is the true observation the step reached, also when the episode
    ended there; ``terminated`` marks absorbing states, ``truncated`` time limits.
    """

    obs: jax.Array
    action: jax.Array
    next_obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array


class Demos(NamedTuple):
    """Expert demonstrations: arrays with a leading transition axis ``[N, ...]``.

    Transitions of one episode are contiguous and in time order; ``episode`` holds
    the episode index of each transition. ``mask`` is 1 for real transitions and 0
    for padding, so demo subsets of different sizes share one shape (and one
    compilation) and can be vmapped over. Metadata lives in
    :class:`jaxil.data.DemosMeta`, outside the pytree, so that loading another
    dataset of the same shape never triggers a recompilation.
    """

    obs: jax.Array  # [N, obs_size] float32
    action: jax.Array  # [N] int32 (discrete) or [N, action_size] float32
    next_obs: jax.Array  # [N, obs_size] float32
    reward: jax.Array  # [N] float32
    terminated: jax.Array  # [N] bool
    truncated: jax.Array  # [N] bool
    episode: jax.Array  # [N] int32
    mask: jax.Array  # [N] float32

    @property
    def num_transitions(self) -> int:
        return int(self.obs.shape[0])

    def transitions(self) -> Transition:
        return Transition(self.obs, self.action, self.next_obs, self.reward, self.terminated, self.truncated)
