"""Mixed-quality datasets for offline RL, built from jaxil's own shipped experts.

A dataset holds three kinds of episodes, with their rewards, in one :class:`Demos`:

- ``expert``: the shipped expert acting deterministically;
- ``medium``: the same expert whose action is replaced by a uniformly random one
  with probability ``medium_eps`` at every step (:func:`jaxil.eval.with_random_actions`);
- ``random``: a uniformly random policy.

Episodes are stored in that order (ids contiguous from 0); the source of each one
is kept in the metadata (``meta.extra["sources"]``), so the label survives
:func:`jaxil.data.save_demos` / :func:`jaxil.data.load_demos`. Offline RL (IQL) must
beat the dataset's mean return; filtered BC keeps only its best episodes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxil import envs, eval as ev, experts, policy as pol
from jaxil.data.demos import DemosError, DemosMeta, collect, make_demos, to_numpy
from jaxil.errors import InputError
from jaxil.types import Demos

SOURCES = ("expert", "medium", "random")

MEDIUM_EPS = {"pendulum": 0.6, "cartpole": 0.5}
"""Random-action probability of the medium policy per env, for a normalised score
well between random and expert: 0.38 on pendulum and 0.29 on cartpole (40 episodes
each of ``build(env, PRNGKey(0))``; on cartpole a few random pushes in a row end
the episode)."""


class Mixed(NamedTuple):
    demos: Demos  # numpy arrays, episodes 0 .. E-1 contiguous
    meta: DemosMeta  # returns per episode; extra["sources"]: the label of each episode
    sources: np.ndarray  # [E] str: "expert" | "medium" | "random"

    @property
    def returns(self) -> np.ndarray:
        """Return of each episode ``[E]`` as the env counted it."""
        return np.asarray(self.meta.returns, np.float64)


def build(env_name: str, key: jax.Array, expert: int = 10, medium: int = 40, random: int = 50,
          medium_eps: float | None = None, expert_path: str | None = None) -> Mixed:
    """Collects ``expert`` + ``medium`` + ``random`` episodes on ``envs.make(env_name)``.

    ``expert_path`` (a saved policy directory) replaces the shipped expert of
    ``env_name``; ``medium_eps`` defaults to :data:`MEDIUM_EPS` of the env (0.5 for
    other envs). Normalisation references (``meta.expert_return`` /
    ``random_return``) are the shipped expert's, when one ships.
    """
    counts = {"expert": expert, "medium": medium, "random": random}
    if min(counts.values()) < 0 or sum(counts.values()) < 1:
        raise InputError(f"episode counts must be >= 0 with at least one episode, got {counts}")
    eps = MEDIUM_EPS.get(env_name, 0.5) if medium_eps is None else float(medium_eps)
    if not 0.0 <= eps <= 1.0:
        raise InputError(f"medium_eps is a probability in [0, 1], got {eps}")
    env = envs.make(env_name)
    spec, params = experts.load_expert(expert_path or env_name, env)
    act = pol.make_act(spec)
    policies = {"expert": act, "medium": ev.with_random_actions(act, env.spec, eps), "random": ev.random_act(env.spec)}
    parts, returns, sources = [], [], []
    for name, k in zip(SOURCES, jax.random.split(key, len(SOURCES))):
        if counts[name]:
            demos, ret = collect(env, policies[name], params, k, counts[name])
            parts.append(demos)
            returns.extend(ret.tolist())
            sources.extend([name] * counts[name])
    ref = experts.reference_returns(env_name)
    desc = ", ".join(f"{counts[s]} {s}" for s in SOURCES)
    meta = DemosMeta(env=env.spec, returns=tuple(returns), source=f"jaxil mixed: {desc} (medium eps {eps})",
                     random_return=None if ref is None else ref[0], expert_return=None if ref is None else ref[1],
                     extra={"sources": sources, "medium_eps": eps})
    return Mixed(concat(parts), meta, np.asarray(sources))


NON_EXPERT_KEY = 7


def non_expert(env_name: str, episodes: int = 16) -> Mixed:
    """The fixed non-expert dataset that offline ValueDICE learns from in place of a replay
    buffer: ``episodes`` episodes of the shipped expert acting at random at the env's
    medium rate (:data:`MEDIUM_EPS`), drawn with the key ``PRNGKey(NON_EXPERT_KEY)``."""
    return build(env_name, jax.random.PRNGKey(NON_EXPERT_KEY), expert=0, medium=episodes, random=0)


def concat(parts: list[Demos]) -> Demos:
    """Demos one after another, episode ids renumbered so they stay contiguous from 0.

    Padding rows (``mask == 0``) are dropped, so the result has no padding.
    """
    if not parts:
        raise InputError("nothing to concatenate: no demos given")
    out, offset = [], 0
    for i, d in enumerate(parts):
        d = to_numpy(d)
        real = d.mask == 1
        if not real.any():
            raise DemosError(f"demos #{i} of {len(parts)} have no real transitions")
        d = Demos(*(x[real] for x in d))
        out.append(d._replace(episode=d.episode + offset))
        offset = int(d.episode.max()) + 1 + offset
    return make_demos(*(np.concatenate(xs) for xs in zip(*out)))


def sources_of(meta: DemosMeta) -> np.ndarray:
    """The source label of each episode ``[E]`` of a dataset built (or saved) by :func:`build`."""
    labels = meta.extra.get("sources")
    if labels is None:
        raise DemosError(f"these demos ({meta.source!r}) carry no per-episode sources; build them with "
                         f"jaxil.data.mixed.build")
    if len(labels) != len(meta.returns):
        raise DemosError(f"{len(labels)} source labels for {len(meta.returns)} episodes")
    return np.asarray(labels)


def summary(mixed: Mixed, env_name: str) -> dict:
    """Episodes, mean / min / max return and mean normalised return per source and overall."""
    rows = {}
    for name in (*SOURCES, "all"):
        sel = mixed.returns if name == "all" else mixed.returns[mixed.sources == name]
        if sel.size:
            norm = experts.normalize(env_name, sel)
            rows[name] = {"episodes": int(sel.size), "mean": float(sel.mean()), "min": float(sel.min()),
                          "max": float(sel.max()), "normalized_mean": None if norm is None else float(norm.mean())}
    return rows
