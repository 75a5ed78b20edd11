"""What online ValueDICE's policy does on pendulum after learning from one trajectory.

    python -m benchmarks.valuedice_pendulum_behaviour [--seeds 4] [--seed S] [--runs I,J]
                                                      [--env-steps 60000]
                                                      [--pick K | --episode E] [--mirror]
                                                      [--set FIELD=VALUE ...]
    python -m benchmarks.valuedice_pendulum_behaviour --policies DIR [--runs I,J]

Trains online ValueDICE (``--seeds`` vmapped seeds, keys split from ``--seed`` as
``benchmarks.offline_imitation`` splits them; ``--runs`` trains only some of those keys, to
look again at one seed of an 8-seed run) from one shipped expert
trajectory (the first; ``--pick K`` draws one with key K, ``--episode E`` takes episode E;
``--mirror`` adds its mirror image as a second episode, a diagnostic) in the setting of the
200k-env-step noise-0.3 run in ``results/offline_imitation-2026-12-02-cpu-online-valuedice-noclip.md``
(``--set FIELD=VALUE`` changes a field of it, as ``benchmarks.offline_imitation`` does for
``valuedice_online``). Then, for every seed's deterministic policy and for the shipped
expert beside them, it reports:

- **score**: normalised return over ``--episodes`` evaluation episodes (0 random, 1 expert);
- **balanced**: the fraction of those episodes whose last 50 steps all have |theta| < 0.3;
- **tail |theta|, tail speed**: medians over episodes of the mean |theta| and |theta_dot| over
  those steps (held off upright, or spinning);
- **on the demo**: the correlation and RMS difference of the policy's torque and the
  expert's at the trajectory's own states;
- **mirrored demo**: pendulum is symmetric under (theta, theta_dot, torque) ->
  (-theta, -theta_dot, -torque), so at the trajectory's states reflected through upright
  the expert's reflected torque is a correct action. Reported: the fraction of those
  states (where the expert's torque is above 0.05 in size) at which the policy's torque
  has the reflected torque's sign, and its mean torque there.

With ``--policies DIR`` nothing is trained: the policies that
``benchmarks.offline_imitation --save-policies`` saved for one method (``DIR/seed<i>/``;
``--runs`` picks some of them) are examined as they ended that run. A seed of a long
vmapped run retrained alone does not repeat that run (its numerics differ in the last
bits, and training amplifies them), so this is the way to look at the seed that ended low.

The trajectory's own coverage (its range of theta and theta_dot and the sign of its
torques) is printed first. Writes ``results/valuedice_pendulum_behaviour-<date>-<device>[-tag].{json,md}``.
"""

from __future__ import annotations

import jaxil  # noqa: F401  (first: sets jaxil's XLA CPU flags before the backend starts)

import argparse
import datetime
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import data, envs, experts, loop, policy as pol
from benchmarks import report
from benchmarks.offline_imitation import online_settings, override
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))
UPRIGHT = 0.3  # |theta| (rad) that counts as upright
TAIL = 50  # steps at the end of an episode that must all be upright
MIN_TORQUE = 0.05  # mirrored states count only where the expert's torque is at least this large

# The noise-0.3 200k-env-step setting of the online ValueDICE runs without the clip.
BASE = ["hidden=[64,64]", "nu_lr=1e-3", "actor_lr=1e-4", "grad_penalty=10", "behavior_noise=0.3",
        "initial_states=reset", "num_envs=4", "num_updates=4", "buffer_size=100000", "learning_starts=1000"]


def angle(obs) -> np.ndarray:
    """theta from pendulum's (cos theta, sin theta, theta_dot) observations [..., 3]."""
    obs = np.asarray(obs)
    return np.arctan2(obs[..., 1], obs[..., 0])


def mirror(obs):
    """The reflection (theta, theta_dot) -> (-theta, -theta_dot) of observations [..., 3]."""
    return obs * jnp.array([1.0, -1.0, -1.0])


def one_episode(demos: data.Demos, e: int) -> data.Demos:
    """Episode ``e`` of ``demos`` alone, re-indexed as episode 0."""
    rows = (np.asarray(demos.episode) == e) & (np.asarray(demos.mask) > 0)
    if not rows.any():
        raise ValueError(f"--episode {e}: the demos hold episodes 0..{int(np.max(demos.episode))}")
    out = data.Demos(*(np.asarray(x)[rows] for x in demos))
    return out._replace(episode=np.zeros_like(out.episode))


def with_mirror_image(demo: data.Demos) -> data.Demos:
    """``demo`` followed by its reflection (theta, theta_dot, torque) -> (-theta, -theta_dot,
    -torque) as a second episode: a test of whether the one-sided demo is what fails."""
    other = demo._replace(obs=np.asarray(mirror(demo.obs)), next_obs=np.asarray(mirror(demo.next_obs)),
                          action=-np.asarray(demo.action),
                          episode=np.asarray(demo.episode) + int(np.max(demo.episode)) + 1)
    return data.Demos(*(np.concatenate([np.asarray(a), np.asarray(b)]) for a, b in zip(demo, other)))


def episodes(env, act, params, key, num: int):
    """Observations [num, T, 3] and rewards [num, T] of ``num`` full-length episodes."""

    def one(k):
        k_reset, k_act = jax.random.split(k)

        def step(state, kk):
            nxt = env.step(state, act(params, state.obs[None], kk)[0])
            return nxt, (state.obs, nxt.reward)

        _, (obs, rew) = jax.lax.scan(step, env.reset(k_reset), jax.random.split(k_act, env.spec.max_episode_steps))
        return obs, rew

    return jax.vmap(one)(jax.random.split(key, num))


def tail_stats(obs) -> dict:
    """Where episodes [num, T, 3] end: the fraction whose last ``TAIL`` steps all have |theta| <
    ``UPRIGHT`` ("balanced"), and the medians over episodes of the mean |theta| and mean
    |theta_dot| over those steps (held off upright: |theta| large, speed near 0; spinning: speed
    large)."""
    obs = np.asarray(obs)[:, -TAIL:]
    tail = np.abs(angle(obs))
    return {"balanced": float(np.mean(np.all(tail < UPRIGHT, axis=1))),
            "tail_abs_theta": float(np.median(tail.mean(1))),
            "tail_speed": float(np.median(np.abs(obs[..., 2]).mean(1)))}


def behaviour(env, act, params, demo: data.Demos, key, num: int) -> dict:
    """The report's numbers for one policy (see the module docstring)."""
    obs, rew = episodes(env, act, params, key, num)
    demo_obs, demo_torque = jnp.asarray(demo.obs), np.asarray(demo.action)[:, 0]
    on_demo = np.asarray(act(params, demo_obs, key))[:, 0]
    on_mirror = np.asarray(act(params, mirror(demo_obs), key))[:, 0]
    want = -demo_torque
    big = np.abs(want) >= MIN_TORQUE
    return {"score": float(experts.normalize(env.spec.name, np.asarray(rew).sum(1)).mean()),
            **tail_stats(obs),
            # undefined (NaN) for a policy whose torque is the same at every demo state
            "demo_corr": float(np.corrcoef(on_demo, demo_torque)[0, 1]) if np.ptp(on_demo) > 0 else float("nan"),
            "demo_rmse": float(np.sqrt(np.mean((on_demo - demo_torque) ** 2))),
            "mirror_right_sign": float(np.mean(np.sign(on_mirror[big]) == np.sign(want[big]))),
            "mirror_mean_torque": float(on_mirror[big].mean()), "mirror_states": int(big.sum())}


def coverage(demo: data.Demos) -> dict:
    theta, torque = angle(demo.obs), np.asarray(demo.action)[:, 0]
    omega = np.asarray(demo.obs)[:, 2]
    return {"theta": [float(theta.min()), float(theta.max())], "theta_dot": [float(omega.min()), float(omega.max())],
            "torque": [float(torque.min()), float(torque.max())], "steps": int(theta.size),
            "negative_torque_fraction": float(np.mean(torque < 0))}


def run_indices(p: argparse.ArgumentParser, runs: str, seeds: int) -> list[int]:
    """``--runs`` as indices into the ``seeds`` keys (all of them when empty); anything else is refused."""
    if seeds < 1:
        p.error(f"--seeds {seeds}: must be >= 1")
    if not runs:
        return list(range(seeds))
    try:
        picked = [int(r) for r in runs.split(",")]
    except ValueError:
        p.error(f"--runs {runs!r}: expected comma-separated integers")
    bad = [r for r in picked if not 0 <= r < seeds]
    if bad or len(set(picked)) != len(picked):
        p.error(f"--runs {runs!r}: each index once, in 0..{seeds - 1}")
    return picked


RUN_KEYS = ("method", "env", "trajectories", "pick", "seeds", "base_seed")  # the same for every seed of a run


def saved_policies(p: argparse.ArgumentParser, directory: str, runs: str) -> tuple[list[tuple], dict]:
    """``([(i, spec, params, meta)], run)`` of the pendulum policies one online run saved as
    ``directory/seed<i>/`` (all of them, or the indices in ``runs``), and that run's
    :data:`RUN_KEYS`. Refused through ``p.error``: a folder without them, a missing index,
    another env's policy, policies of more than one trajectory (the report's demo columns
    are about one) or of different runs; a corrupt file by :func:`jaxil.policy.load_policy`."""
    names = os.listdir(directory) if os.path.isdir(directory) else []
    found = sorted(int(n[4:]) for n in names if n.startswith("seed") and n[4:].isdigit())
    if not found:
        p.error(f"--policies {directory!r}: no seed<i>/ folders (as offline_imitation --save-policies writes)")
    picked = found
    if runs:
        picked = run_indices(p, runs, max(found) + 1)
        missing = sorted(set(picked) - set(found))
        if missing:
            p.error(f"--runs {runs!r}: {directory!r} holds seeds {found}, not {missing}")
    out, run = [], None
    for i in picked:
        spec, params, meta = pol.load_policy(os.path.join(directory, f"seed{i}"))
        if spec.env.name != "pendulum":
            p.error(f"--policies {directory!r}: seed{i} is a policy for {spec.env.name!r}, not pendulum")
        this = {k: meta.get(k) for k in RUN_KEYS}
        if this["trajectories"] != 1:
            p.error(f"--policies {directory!r}: seed{i} was trained on {this['trajectories']} trajectories, "
                    "this report examines policies of one")
        if run is not None and this != run:
            p.error(f"--policies {directory!r}: seed{i} is from another run ({this}) than the others ({run})")
        run = this
        out.append((i, spec, params, meta))
    return out, run


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=None, help="vmapped seeds to train (default 4)")
    p.add_argument("--seed", type=int, default=None,
                   help="base PRNG key of the seeds (as offline_imitation's --seed: the same keys for the "
                        "same --seeds; default 0)")
    p.add_argument("--runs", default="",
                   help="comma-separated indices among the --seeds keys to train (default: all), e.g. a seed "
                        "that failed; with --policies, the saved seeds to examine")
    p.add_argument("--policies", default=None,
                   help="examine the policies saved by offline_imitation --save-policies in this folder "
                        "(DIR/seed<i>/) instead of training")
    p.add_argument("--env-steps", type=int, default=None, help="env steps to train (default 60000)")
    p.add_argument("--pick", type=int, default=None, help="draw the trajectory with this key (default: the first)")
    p.add_argument("--episode", type=int, default=None,
                   help="train on the shipped demos' episode E (default: the first)")
    p.add_argument("--episodes", type=int, default=32)
    p.add_argument("--mirror", action="store_true",
                   help="train on the trajectory and its mirror image (a diagnostic; no longer one trajectory)")
    p.add_argument("--set", action="append", default=[], dest="assignments", help="FIELD=VALUE of valuedice_online")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    if args.policies is not None:
        training = {"--seeds": args.seeds, "--seed": args.seed, "--env-steps": args.env_steps,
                    "--mirror": args.mirror or None, "--set": args.assignments or None, "--pick": args.pick,
                    "--episode": args.episode}
        given = [flag for flag, value in training.items() if value is not None]
        if given:
            p.error(f"{', '.join(given)}: --policies examines saved policies, trained on the trajectory their "
                    "run recorded; give one or the other")
        saved, run = saved_policies(p, args.policies, args.runs)
        args.pick = run["pick"]  # the trajectory they were trained on
    else:
        for item in args.assignments:  # checked here, so the message names this script's FIELD=VALUE form
            if not item.partition("=")[1] or not item.partition("=")[0]:
                p.error(f"--set {item!r}: expected FIELD=VALUE (a field of valuedice_online's setting)")
        args.seeds = 4 if args.seeds is None else args.seeds
        args.seed = 0 if args.seed is None else args.seed
        args.env_steps = 60_000 if args.env_steps is None else args.env_steps
        runs = run_indices(p, args.runs, args.seeds)
    env = envs.make("pendulum")
    demos, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    if args.episode is not None and args.pick is not None:
        p.error("give --pick or --episode, not both")
    if args.episode is None:
        demo = data.select_trajectories(demos, 1, None if args.pick is None else jax.random.PRNGKey(args.pick))
    else:
        demo = one_episode(demos, args.episode)
    cov = coverage(demo)
    train_demo = with_mirror_image(demo) if args.mirror else demo
    print(f"trajectory: theta {cov['theta'][0]:+.3f}..{cov['theta'][1]:+.3f}, theta_dot {cov['theta_dot'][0]:+.2f}.."
          f"{cov['theta_dot'][1]:+.2f}, torque {cov['torque'][0]:+.2f}..{cov['torque'][1]:+.2f} "
          f"({cov['negative_torque_fraction']:.0%} negative)", flush=True)

    eval_key = jax.random.PRNGKey(7)  # the same episodes for every policy
    if args.policies is not None:
        rows = [dict(policy=f"seed {i}", saved_final_score=meta.get("final_score"),
                     **behaviour(env, pol.make_act(spec), params, demo, eval_key, args.episodes))
                for i, spec, params, meta in saved]
        # the folder relative to the report's, as offline_imitation names it relative to its results
        setting, wall_s = {"policies": os.path.relpath(args.policies, args.out), "run": run}, None
    else:
        assignments = [f"valuedice_online.{a}" for a in BASE + args.assignments]
        s = override(online_settings(False), assignments)["valuedice_online"]
        trainer = s.make(s.config, env)
        steps = max(1, args.env_steps // trainer.env_steps_per_step)
        keys = jax.random.split(jax.random.PRNGKey(args.seed), args.seeds)[np.asarray(runs)]
        res = loop.run(trainer, keys, s.hparams, steps,
                       demos=data.to_jax(train_demo), chunk_steps=steps)
        act = pol.make_act(trainer.policy_spec)
        policies = jax.vmap(trainer.policy)(res.state)
        rows = [dict(policy=f"seed {i}", **behaviour(env, act, experts.take_run(policies, j), demo, eval_key,
                                                      args.episodes)) for j, i in enumerate(runs)]
        setting, wall_s = {"config": repr(s.config), "hparams": s.hparams._asdict()}, res.wall_s
    expert_spec, expert_params = experts.load_expert("pendulum", env)
    rows.append(dict(policy="shipped expert", **behaviour(env, pol.make_act(expert_spec), expert_params, demo, eval_key,
                                                          args.episodes)))
    for r in rows:
        print(f"  {r['policy']:>14}: score {r['score']:+.2f} balanced {r['balanced']:.2f} tail |theta| "
              f"{r['tail_abs_theta']:.2f} speed {r['tail_speed']:.2f} demo corr "
              f"{r['demo_corr']:.2f} rmse {r['demo_rmse']:.3f} mirrored right sign {r['mirror_right_sign']:.2f} "
              f"(mean torque {r['mirror_mean_torque']:+.2f})", flush=True)
    write(args, argv, setting, cov, rows, wall_s)


def write(args, argv: list[str], setting: dict, cov: dict, rows: list[dict], wall_s: float | None) -> None:
    """The JSON and markdown report; ``setting`` is the trained setting (config, hparams) or the
    folder of the saved policies examined."""
    date, device = datetime.date.today().isoformat(), device_name()
    stem = report.result_stem(args.out, "valuedice_pendulum_behaviour", date, args.tag, device=device)
    meta = {"device": device, "jax": jax.__version__, "date": date, "argv": argv, "seeds": args.seeds,
            "seed": args.seed, "runs": args.runs,
            "env_steps": args.env_steps, "pick": args.pick, "episode": args.episode, "mirror": args.mirror,
            "episodes": args.episodes, "wall_s": wall_s, **setting}
    report.save_json(stem, {"meta": meta, "trajectory": cov, "rows": rows})
    if "policies" in setting:
        source = f"the policies saved in `{setting['policies']}`"
    else:
        source = (f"{args.env_steps} env steps, {args.seeds} seeds{' (key ' + str(args.seed) + ')' if args.seed else ''}"
                  f"{', runs ' + args.runs if args.runs else ''}")
    whose = f"`{setting['run']['method']}`'s saved" if "policies" in setting else "Online ValueDICE's"
    lines = [f"# {whose} pendulum policies from one trajectory ({device}, jax {jax.__version__}, "
             f"{date})", "",
             f"Trajectory: theta {cov['theta'][0]:+.3f} to {cov['theta'][1]:+.3f} rad, theta_dot "
             f"{cov['theta_dot'][0]:+.2f} to {cov['theta_dot'][1]:+.2f}, torque {cov['torque'][0]:+.2f} to "
             f"{cov['torque'][1]:+.2f} ({cov['negative_torque_fraction']:.0%} negative); {source}, "
             f"{args.episodes} evaluation episodes."
             + (" Trained on the trajectory and its mirror image (two episodes)." if args.mirror else ""), "",
             "| policy | score | balanced | tail abs(theta) | tail speed | torque corr. on the demo "
             "| RMS diff. on the demo | mirrored: right sign | mirrored: mean torque |",
             "|---|---|---|---|---|---|---|---|---|"]
    label = lambda r: r["policy"] + ("" if r.get("saved_final_score") is None else
                                     f" (its run's last score {r['saved_final_score']:.2f})")
    lines += [f"| {label(r)} | {r['score']:.2f} | {r['balanced']:.2f} | {r['tail_abs_theta']:.2f} "
              f"| {r['tail_speed']:.2f} | {r['demo_corr']:.2f} | {r['demo_rmse']:.3f} "
              f"| {r['mirror_right_sign']:.2f} | {r['mirror_mean_torque']:+.2f} |" for r in rows]
    lines += ["", f"Command: `python -m benchmarks.valuedice_pendulum_behaviour {' '.join(argv)}`"]
    report.save_markdown(stem, "\n".join(lines))
    print("wrote", stem)


if __name__ == "__main__":
    main()
