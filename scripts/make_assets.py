"""Regenerates the experts and demonstrations shipped in ``jaxil/assets``.

    python scripts/make_assets.py [--envs cartpole,pendulum] [--seeds 8]

Each env's expert is trained over vmapped seeds with its recipe
(``jaxil.experts.recipe``); the best seed's policy and demos are written to
``jaxil/assets/<env>/`` together with the run's results.json.
"""

from __future__ import annotations

import argparse

import os

from jaxil import cli, experts

EPISODES = {"cartpole": 20, "pendulum": 20, "hopper": 16}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", default=",".join(experts.SHIPPED))
    p.add_argument("--seeds", type=int, default=8)
    args = p.parse_args()
    for env in args.envs.split(","):
        out = experts.shipped_dir(env)
        cli.expert(env=env, seeds=args.seeds, out=out, demo_episodes=EPISODES.get(env, 20))
        os.remove(os.path.join(out, "metrics.csv"))  # per-step history: too large to ship


if __name__ == "__main__":
    main()
