"""Off-policy and offline imitation: ValueDICE and IQ-Learn against GAIL and BC.

    python -m benchmarks.offline_imitation [--part online|offline|all] [--seeds N] [--quick]
                                           [--final-episodes N] [--save-policies]
                                           [--set METHOD.FIELD=VALUE ...]

**online** (pendulum, the first shipped expert trajectory): ValueDICE and IQ-Learn
online, GAIL with its pendulum defaults (SAC learner) and GAIL on PPO as Ho & Ermon
ran it (``gail_ppo``, 2M env steps), ``--seeds`` vmapped seeds each. Every
``eval_every`` env steps each seed's deterministic policy is evaluated (16 episodes)
and normalised (0 random, 1 expert); reported: the env steps at which each seed first
reaches 0.9, and the final scores. Target: ValueDICE >= 0.9 on every seed with at
most 1/10 of GAIL's median env steps to 0.9 (checked against each GAIL row in the run).
Two reference rows run SAC on the env's true reward (GAIL's SAC settings, and
ValueDICE's 10 updates per env step): no imitation method that has to learn the
swing-up by interaction should beat them. With ``valuedice_online.policy_average`` set,
the averaged policy is what is scored, and the current iterate is scored beside it.
``--final-episodes N`` scores each method's end state once more over N episodes, to
tell a policy below 0.9 from the spread of a 16-episode estimate. The json also keeps
each seed's training metrics between evaluations (``metric_curves``, e.g. ValueDICE's
DV objective), to read a seed's fall against its learner. ``--save-policies`` keeps every
seed's final policy (``<result stem>-policies/<method>/seed<i>/``), so a seed that ends low
can be examined as it was trained (``benchmarks.valuedice_pendulum_behaviour --policies``)
rather than retrained alone, which over a long run does not repeat it.

**offline** (cartpole and pendulum, 1 / 4 / 16 expert trajectories, ``--seeds``
seeds each, all subsets x seeds of a method in one vmapped program): ValueDICE
offline (the expert demos plus a non-expert dataset: the shipped expert with random
actions, :func:`jaxil.data.mixed.build`'s medium episodes), IQ-Learn offline (expert
demos only) and BC; mean and worst-seed normalised score.

``--online-env hopper`` runs the online part on Brax's hopper from its shipped expert's
first trajectory instead (the settings stay pendulum's unless ``--set`` changes them;
GAIL takes its hopper defaults).

``--set valuedice_online.num_updates=10`` (say) overrides one Config or Hparams field
of a method's setting (methods: the keys of :func:`online_settings` and
:func:`offline_settings`). Writes
``benchmarks/results/offline_imitation-<date>-<device>[-quick][-<tag>].{json,md}``.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import dataclasses
import datetime
import json
import os
import platform
import time
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxil import algos, data, envs, eval as ev, experts, loop, policy as pol
from jaxil.algos import bc, gail, iqlearn, offpolicy, valuedice
from jaxil.data import mixed
from jaxil.rl import sac
from benchmarks import report
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = 0.9
EVAL_EPISODES = 16
TRAJECTORIES = (1, 4, 16)
REPLAY_EPISODES = 16


class Setting(NamedTuple):
    make: Any  # make_train
    config: Any
    hparams: Any
    env_steps: int  # online: per seed; offline: 0
    steps: int  # trainer steps
    chunk_steps: int


def online_settings(quick: bool, env_name: str = "pendulum") -> dict[str, Setting]:
    """The online methods' settings (tuned on pendulum; ``--set`` adapts them to another env)."""
    scale = 5 if quick else 1  # divides every setting's steps and chunk, so chunks still tile the run
    gail_config, gail_hp, gail_steps = algos.defaults("gail", env_name)
    vd_config = valuedice.Config(num_updates=10, learning_starts=400, buffer_size=20_000)
    iq_config = iqlearn.Config(num_updates=10, learning_starts=400, buffer_size=20_000)
    return {
        "valuedice_online": Setting(valuedice.make_train, vd_config, valuedice.Hparams(actor_lr=1e-4),
                                    4000 // scale, 4000 // scale, 200 // scale),
        "iqlearn_online": Setting(iqlearn.make_train, iq_config, iqlearn.Hparams(),
                                  4000 // scale, 4000 // scale, 200 // scale),
        "gail": Setting(gail.make_train, gail_config, gail_hp, gail_steps * 4 // scale, gail_steps // scale,
                        250 // scale),
        # GAIL as Ho & Ermon ran it: on-policy, fresh rollouts for every policy update (jaxil's shared
        # PPO defaults, 8 envs x 128 steps = 1024 env steps per trainer step), 2M env steps.
        "gail_ppo": Setting(gail.make_train, dataclasses.replace(gail_config, learner="ppo"), gail_hp,
                            2_048_000 // scale, 2000 // scale, 100 // scale),
        # References, not imitation: SAC on the env's own reward, with GAIL's SAC learner and with
        # ValueDICE's interaction (1 env, 10 updates per env step, 400 warm-up steps). They bound how
        # few env steps any method that must learn the swing-up by RL can need.
        "sac_true_reward": Setting(sac.make_train, gail_config.sac, sac.Hparams(), 12000 // scale,
                                   3000 // scale, 125 // scale),
        "sac_true_reward_utd10": Setting(sac.make_train, sac.Config(num_envs=1, num_updates=10, learning_starts=400),
                                         sac.Hparams(), 4000 // scale, 4000 // scale, 200 // scale),
    }


def offline_settings(quick: bool) -> dict[str, Setting]:
    scale = 10 if quick else 1
    vd_config = valuedice.Config(offline=True, num_updates=100)
    iq_config = iqlearn.Config(offline=True, num_updates=100)
    return {
        "valuedice_offline": Setting(valuedice.make_train, vd_config, valuedice.Hparams(actor_lr=1e-4), 0,
                                     100 // scale, 100 // scale),
        "iqlearn_offline": Setting(iqlearn.make_train, iq_config, iqlearn.Hparams(), 0, 100 // scale, 100 // scale),
        "bc": Setting(bc.make_train, bc.Config(), bc.Hparams(), 0, 40, 40),
    }


def parse_value(value: str):
    """A ``--set`` value: JSON (``1e-5``, ``[256,256]``, ``true``, ``null``), Python's ``True`` /
    ``False`` / ``None``, else the string itself (``reset``)."""
    if value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[value]
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def override(settings: dict[str, Setting], assignments: list[str]) -> dict[str, Setting]:
    """Applies ``METHOD.FIELD=VALUE`` to the method's Config or Hparams (or steps / env_steps)."""
    for item in assignments:
        target, eq, value = item.partition("=")
        method, _, field = target.partition(".")
        if not (eq and field):
            raise SystemExit(f"--set {item!r}: expected METHOD.FIELD=VALUE")
        if method not in settings:
            continue
        s = settings[method]
        parsed = parse_value(value)
        if field in Setting._fields:
            settings[method] = s._replace(**{field: parsed})
        elif field in s.hparams._fields:
            settings[method] = s._replace(hparams=s.hparams._replace(**{field: parsed}))
        elif field in {f.name for f in dataclasses.fields(s.config)}:
            parsed = tuple(parsed) if isinstance(parsed, list) else parsed
            settings[method] = s._replace(config=dataclasses.replace(s.config, **{field: parsed}))
        else:
            raise SystemExit(f"{method} has no field {field!r}")
    return settings


def make_evaluator(env, trainer: loop.Trainer, episodes: int = EVAL_EPISODES):
    """``scores(states, key) -> [runs]``: mean normalised return of each run's deterministic policy."""
    act = pol.make_act(trainer.policy_spec)
    returns = jax.jit(jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, episodes)))

    def scores(states, key):
        params = jax.vmap(trainer.policy)(states)
        runs = jax.tree.leaves(params)[0].shape[0]
        ret = np.asarray(returns(params, jax.random.split(key, runs))).mean(1)
        return experts.normalize(env.spec.name, ret)

    return scores


def nanmean(x, axis=None):
    """``np.nanmean``, NaN where every value is NaN without numpy's empty-slice warning (a
    metric no run logged, e.g. the return where no episode ended, is expected, not a fault)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def chunk_means(metrics: dict) -> dict[str, np.ndarray]:
    """Each run's training metrics averaged over one chunk (``{name: [runs, chunk_steps]}`` ->
    ``{name: [runs]}``), NaN-aware: the learner's side of a seed's score curve, e.g. the DV
    objective of a seed that falls late. NaN where the chunk logged none (no episode ended)."""
    out = {}
    for k, v in metrics.items():
        if k == "episodes" or np.ndim(v) != 2:
            continue
        out[k] = nanmean(np.asarray(v, np.float64), axis=1)
    return out


def metric_curves(chunks: list[dict[str, np.ndarray]]) -> dict[str, list]:
    """``{name: [evals][runs]}`` from the chunks' means, NaN written as null (plain JSON)."""
    if not chunks:
        return {}
    return {k: [[None if np.isnan(x) else float(x) for x in c[k]] for c in chunks] for k in chunks[0]}


def run_online(name: str, s: Setting, env, demos, seeds: int, trajectories: int, base_seed: int = 0,
               final_episodes: int = 0, policy_dir: str | None = None, pick: int | None = None) -> dict:
    """Trains ``seeds`` vmapped runs of one online method, scoring them every chunk; with
    ``policy_dir``, saves each seed's final policy (the one scored) under
    ``policy_dir/<name>/seed<i>/`` (:func:`jaxil.policy.save_policy`), with what it was
    trained on (``trajectories`` expert trajectories, drawn with key ``pick`` or the first)."""
    trainer = s.make(s.config, env)
    scores = make_evaluator(env, trainer)
    steps, curve, current, trained = [], [], [], []
    # With policy_average set, the trainer's policy is the average of the iterates; the current
    # iterate (what a trainer without the average returns from the same state) is scored beside it.
    averaged = getattr(s.config, "policy_average", None) is not None
    current_scores = None
    if averaged:
        plain = dataclasses.replace(s.config, policy_average=None, policy_average_from=None)
        current_scores = make_evaluator(env, s.make(plain, env))

    def on_chunk(done, state, metrics):
        steps.append(done * trainer.env_steps_per_step)
        curve.append(scores(state, jax.random.PRNGKey(done)))
        if averaged:
            current.append(current_scores(state, jax.random.PRNGKey(done)))
            print(f"  {name} {steps[-1]:6d} env steps: current iterate: mean {current[-1].mean():.3f} "
                  f"worst {current[-1].min():.3f}", flush=True)
        last = {k: float(nanmean(v[:, -1])) for k, v in metrics.items() if k != "episodes"}
        trained.append(chunk_means(metrics))
        print(f"  {name} {steps[-1]:6d} env steps: mean {curve[-1].mean():.3f} worst {curve[-1].min():.3f} "
              + " ".join(f"{k} {v:.3g}" for k, v in sorted(last.items())), flush=True)

    start = time.perf_counter()
    result = loop.run(trainer, jax.random.split(jax.random.PRNGKey(base_seed), seeds), s.hparams, s.steps,
                      demos=demos, chunk_steps=s.chunk_steps, on_chunk=on_chunk)
    wall = time.perf_counter() - start
    curve = np.stack(curve)  # [evals, seeds]
    final = curve[-1]
    reach = ev.first_reaching(np.asarray(steps), curve, TARGET)
    extra = {"curve_current_iterate": np.stack(current).tolist()} if averaged else {}
    extra["metric_curves"] = metric_curves(trained)
    if final_episodes:
        # The end state again, over many more episodes (own key): separates a policy below the target
        # from the spread of a 16-episode estimate over random initial states.
        many = make_evaluator(env, trainer, final_episodes)(result.state, jax.random.PRNGKey(2**31 - 1))
        extra |= {"final_episodes": final_episodes, "final_many": many.tolist()}
    if policy_dir:  # the json names the folder relative to the results' own folder
        save_policies(os.path.join(policy_dir, name), trainer, result.state, final,
                      {"method": name, "env": env.spec.name, "trajectories": trajectories, "pick": pick,
                       "seeds": seeds, "base_seed": base_seed, "setting": describe(s)})
        extra["policies"] = os.path.join(os.path.basename(policy_dir), name)
    return {**extra, "method": name, "env": env.spec.name, "trajectories": trajectories, "seeds": seeds,
            "base_seed": base_seed,
            "final": final.tolist(),
            "final_mean": float(final.mean()), "final_worst": float(final.min()),
            "env_steps_to_target": reach, "eval_env_steps": steps, "curve": curve.tolist(),
            "wall_s": wall, "setting": describe(s)}


def save_policies(directory: str, trainer, state, final, meta: dict) -> str:
    """Saves the final policy of every seed of a vmapped ``state`` as ``directory/seed<i>/``,
    with ``meta`` (the run: method, trajectories, seeds...), its seed index and final score;
    returns ``directory``."""
    policies = jax.vmap(trainer.policy)(state)
    for i, score in enumerate(np.asarray(final)):
        pol.save_policy(os.path.join(directory, f"seed{i}"), trainer.policy_spec, experts.take_run(policies, i),
                        {**meta, "seed_index": i, "final_score": float(score)})
    return directory


def describe(s: Setting) -> dict:
    return {"config": repr(s.config), "hparams": s.hparams._asdict(), "trainer_steps": s.steps,
            "env_steps": s.env_steps}


def offline_demos(name: str, env_name: str, expert: data.Demos, replay: data.Demos, seeds: int):
    stacked = data.to_jax(data.stack_subsets(expert, TRAJECTORIES, repeats=seeds))
    if name != "valuedice_offline":
        return stacked
    runs = len(TRAJECTORIES) * seeds
    tiled = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x), (runs, *np.shape(x))), replay)
    return offpolicy.ExpertAndReplay(stacked, tiled)


def run_offline(name: str, s: Setting, env, expert, replay, seeds: int) -> dict:
    trainer = s.make(s.config, env)
    demos = offline_demos(name, env.spec.name, expert, replay, seeds)
    start = time.perf_counter()
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), len(TRAJECTORIES) * seeds), s.hparams,
                   s.steps, demos=demos, demos_axis=0, chunk_steps=s.chunk_steps)
    wall = time.perf_counter() - start
    scores = make_evaluator(env, trainer)(res.state, jax.random.PRNGKey(1)).reshape(len(TRAJECTORIES), seeds)
    rows = [{"trajectories": k, "scores": scores[i].tolist(), "mean": float(scores[i].mean()),
             "worst": float(scores[i].min())} for i, k in enumerate(TRAJECTORIES)]
    for r in rows:
        print(f"  {env.spec.name} {name} {r['trajectories']:2d} traj: mean {r['mean']:.3f} worst {r['worst']:.3f}",
              flush=True)
    return {"method": name, "env": env.spec.name, "seeds": seeds, "rows": rows, "wall_s": wall,
            "setting": describe(s)}


def replay_dataset(env_name: str) -> tuple[data.Demos, dict]:
    """Non-expert episodes: the shipped expert with random actions (mixed's medium policy)."""
    m = mixed.non_expert(env_name, REPLAY_EPISODES)
    return data.to_jax(m.demos), mixed.summary(m, env_name)["medium"]


def fmt_steps(x) -> str:
    return "never" if x is None else str(x)


def report_online(rows: list[dict]) -> list[str]:
    lines = [f"## Online, {rows[0]['env']}, {rows[0]['trajectories']} expert trajectory(ies)", "",
             f"Normalised score of the deterministic policy ({EVAL_EPISODES} episodes per evaluation); env steps at "
             f"which each seed first scored >= {TARGET}.", "",
             "| method | seeds | final mean | final worst | env steps to 0.9 per seed | median | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        reached = [x for x in r["env_steps_to_target"] if x is not None]
        median = "-" if len(reached) < r["seeds"] else str(int(np.median(reached)))
        lines.append(f"| {r['method']} | {r['seeds']} | {r['final_mean']:.3f} | {r['final_worst']:.3f} | "
                     f"{', '.join(fmt_steps(x) for x in r['env_steps_to_target'])} | {median} | {r['wall_s']:.0f} |")
    return lines + [""]


def curve_lines(rows: list[dict], points: int = 10) -> list[str]:
    """Mean / worst seed at (up to) ``points`` evenly spaced evaluations of each online row, and of
    its current iterate where the row's policy is an average of the iterates."""
    lines = ["Learning curves, mean / worst seed (env steps in thousands):", ""]
    for r in rows:
        curves = [(r["method"], r["curve"])]
        if "curve_current_iterate" in r:
            curves.append((f"{r['method']} (current iterate)", r["curve_current_iterate"]))
        n = len(r["eval_env_steps"])
        k = min(points, n)
        idx = [(j + 1) * n // k - 1 for j in range(k)]  # the last evaluation of each of k equal spans
        for label, curve in curves:
            c = np.asarray(curve)
            lines.append(f"- {label}: " + ", ".join(f"{r['eval_env_steps'][i] / 1000:g}k {c[i].mean():.2f} / "
                                                     f"{c[i].min():.2f}" for i in idx))
    return lines + [""]


def report_offline(rows: list[dict], replay_info: dict) -> list[str]:
    lines = ["## Offline, normalised score: mean [worst seed]", ""]
    for env_name in sorted({r["env"] for r in rows}):
        mine = [r for r in rows if r["env"] == env_name]
        info = replay_info.get(env_name)
        if info:
            lines.append(f"{env_name}: ValueDICE's non-expert dataset: {info['episodes']} episodes, normalised "
                         f"mean return {info['normalized_mean']:.3f}.")
            lines.append("")
        lines += [f"| {env_name} | " + " | ".join(r["method"] for r in mine) + " |",
                  "|---|" + "---|" * len(mine)]
        for i, k in enumerate(TRAJECTORIES):
            lines.append(f"| {k} traj | " + " | ".join(f"{r['rows'][i]['mean']:.3f} [{r['rows'][i]['worst']:.3f}]"
                                                       for r in mine) + " |")
        lines.append("")
    return lines


def check_args(p: argparse.ArgumentParser, args, wanted: set[str]):
    """Refuses, through ``p.error``, what would otherwise run silently wrong: a method or a ``--set``
    target that names no method (a bare ``hidden=...`` would be ignored), a negative count.
    Returns the online and offline settings with the assignments applied."""
    for flag in ("seeds", "final_episodes", "online_trajectories"):
        value = getattr(args, flag)
        lowest = 0 if flag == "final_episodes" else 1
        if value is not None and value < lowest:
            p.error(f"--{flag.replace('_', '-')} {value}: must be >= {lowest}")
    online_set = online_settings(args.quick, args.online_env)
    offline_set = offline_settings(args.quick)
    known = set(online_set) | set(offline_set)
    if wanted - known:
        p.error(f"--methods: unknown {sorted(wanted - known)}; the methods are {sorted(known)}")
    for item in args.assignments:
        if item.partition("=")[0].partition(".")[0] not in known:
            p.error(f"--set {item!r}: expected METHOD.FIELD=VALUE with METHOD one of {sorted(known)}")
    return override(online_set, args.assignments), override(offline_set, args.assignments)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", default="all", choices=("online", "offline", "all"))
    p.add_argument("--methods", default="", help="comma-separated subset of the methods")
    p.add_argument("--envs", default="cartpole,pendulum", help="offline envs")
    p.add_argument("--seeds", type=int, default=None, help="default: 8 online, 5 offline")
    p.add_argument("--online-env", default="pendulum", help="env of the online part (shipped demos: pendulum, hopper)")
    p.add_argument("--online-trajectories", type=int, default=1, help="expert trajectories of the online part")
    p.add_argument("--online-pick", type=int, default=None,
                   help="online part: draw the trajectories at random with this key (default: the first ones)")
    p.add_argument("--seed", type=int, default=0, help="online part: the base PRNG key of the seeds")
    p.add_argument("--final-episodes", type=int, default=0,
                   help="online part: also score the end state over this many episodes (0: off)")
    p.add_argument("--save-policies", action="store_true",
                   help="online part: save every seed's final policy under <result stem>-policies/<method>/seed<i>/ "
                        "(for benchmarks.valuedice_pendulum_behaviour --policies)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--set", action="append", default=[], dest="assignments")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    wanted = set(filter(None, args.methods.split(",")))
    # Every setting is built and overridden before anything trains, so a typo fails at once
    # instead of hours in, after the online part's results were computed but not yet written.
    online_set, offline_set = check_args(p, args, wanted)
    online, offline, replay_info = [], [], {}
    # One date and device name the results and the policies beside them (the json points at that folder).
    date, device = datetime.date.today().isoformat(), device_name()
    policy_dir = None
    if args.save_policies:
        # Refused before training: policies of two runs in one folder could not be told apart.
        policy_dir = result_stem(args, date, device) + "-policies"
        if args.part == "offline":
            p.error("--save-policies saves the online part's policies; --part offline has none")
        if os.path.isdir(policy_dir) and os.listdir(policy_dir):
            p.error(f"--save-policies: {policy_dir!r} already holds policies; give another --tag or remove it")
    if args.part in ("online", "all"):
        env = envs.make(args.online_env)
        demos, _ = data.load_demos(experts.resolve_demos(args.online_env), env)
        key = None if args.online_pick is None else jax.random.PRNGKey(args.online_pick)
        chosen = data.to_jax(data.select_trajectories(demos, args.online_trajectories, key))
        for name, s in online_set.items():
            if not wanted or name in wanted:
                online.append(run_online(name, s, env, chosen, args.seeds or 8, args.online_trajectories,
                                         args.seed, args.final_episodes, policy_dir, args.online_pick))
    if args.part in ("offline", "all"):
        for env_name in args.envs.split(","):
            env = envs.make(env_name)
            expert, _ = data.load_demos(experts.resolve_demos(env_name), env)
            replay, replay_info[env_name] = replay_dataset(env_name)
            for name, s in offline_set.items():
                if not wanted or name in wanted:
                    offline.append(run_offline(name, s, env, expert, replay, args.seeds or 5))
    meta = {"device": device, "backend": jax.default_backend(), "jax": jax.__version__,
            "jaxil": jaxil.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "date": date, "quick": args.quick, "overrides": args.assignments}
    write(args, meta, online, offline, replay_info)


def result_stem(args, date: str, device: str) -> str:
    """``<out>/offline_imitation-<date>-<device>[-quick][-<tag>]``: the results' path without suffix."""
    return report.result_stem(args.out, "offline_imitation", date, "quick" if args.quick else "", args.tag,
                              device=device)


def write(args, meta: dict, online: list, offline: list, replay_info: dict) -> None:
    stem = result_stem(args, meta["date"], meta["device"])
    report.save_json(stem, {"meta": meta, "online": online, "offline": offline, "replay_data": replay_info})
    lines = [f"# Off-policy and offline imitation ({meta['device']}, jax {meta['jax']}, {meta['date']}"
             f"{', quick' if args.quick else ''})", ""]
    if online:
        lines += report_online(online)
        lines += target_lines(online)
        lines += curve_lines(online)
    if offline:
        lines += report_offline(offline, replay_info)
    report.save_markdown(stem, "\n".join(lines))
    print("wrote", stem)


def per_seed(values) -> str:
    """One score per seed, to two decimals: ``0.93 0.95 0.68``."""
    return " ".join(f"{x:.2f}" for x in values)


def window_line(row: dict) -> str:
    """The end judged over a window instead of one evaluation: each seed's mean over the last fifth of
    its evaluations (at least one), and the lowest single evaluation in that window."""
    steps, curve = row["eval_env_steps"], np.asarray(row["curve"])  # [evals], [evals, seeds]
    n = max(1, len(steps) // 5)
    means, lowest = curve[-n:].mean(0), curve[-n:].min(0)
    return (f"- mean of the last {n} evaluations ({steps[-n]}-{steps[-1]} env steps): >= {TARGET} on every seed: "
            f"{bool(means.min() >= TARGET)} (per seed {per_seed(means)}; worst "
            f"{means.min():.3f}; lowest single evaluations {per_seed(lowest)}).")


def target_lines(rows: list[dict]) -> list[str]:
    """The goal's check: ValueDICE >= TARGET on every seed at the end, and its median env steps to
    TARGET at most 1/10 of each GAIL row's in the same run (a seed that never reached it counts as
    needing more than that row's budget, so a median beyond the budget gives a bound, not a ratio)."""
    by = {r["method"]: r for r in rows}
    gails = [by[m] for m in ("gail", "gail_ppo") if m in by]
    if "valuedice_online" not in by or not gails:
        return []
    vd = by["valuedice_online"]
    vd_med = ev.censored_median(vd["env_steps_to_target"])
    reached = sum(x is not None for x in vd["env_steps_to_target"])
    lines = [f"Target: ValueDICE >= {TARGET} on every seed at the end: {vd['final_worst'] >= TARGET} "
             f"(final worst {vd['final_worst']:.3f}); {reached}/{vd['seeds']} seeds reached {TARGET}, median env "
             f"steps {'never' if np.isinf(vd_med) else int(vd_med)}."]
    if "final_many" in vd:
        many = np.asarray(vd["final_many"])
        lines.append(f"- over {vd['final_episodes']} episodes at the end: >= {TARGET} on every seed: "
                     f"{bool(many.min() >= TARGET)} (per seed {per_seed(many)}; "
                     f"mean {many.mean():.3f}, worst {many.min():.3f}).")
    if "curve" in vd:
        lines.append(window_line(vd))
    for ga in gails:
        budget = ga["eval_env_steps"][-1]  # the env steps it ran
        ga_med = ev.censored_median(ga["env_steps_to_target"])
        n = sum(x is not None for x in ga["env_steps_to_target"])
        if np.isinf(vd_med):
            verdict = "ratio not defined (ValueDICE's median seed never reached it)"
        elif np.isinf(ga_med):
            bound = vd_med / budget
            verdict = (f"GAIL's median is beyond its {budget} env steps, so the ratio is below {bound:.3f} "
                       f"(target <= 0.1: {bound <= 0.1})")
        else:
            ratio = vd_med / ga_med
            verdict = f"ratio {ratio:.3f} (target <= 0.1: {ratio <= 0.1})"
        lines.append(f"- against {ga['method']}: {n}/{ga['seeds']} seeds reached {TARGET}, median env steps "
                     f"{'> ' + str(budget) if np.isinf(ga_med) else int(ga_med)}; {verdict}.")
    return lines + [""]


if __name__ == "__main__":
    main()
