"""The benchmark suite: every measurement and goal of jaxil in one run, one JSON, one report.

    python -m benchmarks run --suite quick    # <= 15 minutes on a 2-core CPU
    python -m benchmarks run --suite full     # for a GPU: adds Brax tasks, 1024 seeds

Sections (each a function ``section(suite, log) -> {"rows", "goals", ...}`` calling the
benchmark modules in-process; a section that fails is recorded with its error and the
suite goes on):

- ``env_overhead``: jaxil's env wrappers vs the backend's bare rollout (:mod:`benchmarks.env_throughput`);
- ``loop_efficiency``: env steps/s of full training loops vs a bare rollout (:mod:`benchmarks.loop_efficiency`),
  on cartpole (every algorithm) and on Brax hopper (PPO, GAIL), where the env step, not the
  learning, sets the pace;
- ``compile_time``: trace and XLA compile time of each train step, apart from run time
  (:mod:`benchmarks.compile_time`; loop_efficiency's programs plus BC and SAC);
- ``peers``: the `imitation` library, same task and budget, one run: GAIL, AIRL and DAgger
  on cartpole to 0.9 normalized (:mod:`benchmarks.peers`), BC updates/s
  (:mod:`benchmarks.bc_throughput`), MCE IRL on cliff world (:mod:`benchmarks.mce_irl`);
  without the ``peers`` extra their peer rows say "not installed";
- ``seed_scaling``: per-seed cost vs number of vmapped seeds (:mod:`benchmarks.seed_scaling`);
- ``device_scaling``: per-seed cost vs number of devices (on a one-device CPU, in a child
  process with one host device per core);
- ``brax`` (full suite): hopper / halfcheetah / ant, PPO / GAIL / AIRL / ValueDICE at
  1, 16, 256 seeds: env steps/s and wall time to 0.9 normalized.

Writes ``benchmarks/results/<date>-<device>[-quick][-only-<sections>].json`` (with the ``goals`` list: one
entry per goal, ``name``, ``target``, ``measured``, ``met``) and a markdown report with
plots beside it (:mod:`benchmarks.report`).
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import dataclasses
import datetime
import glob
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable

import jax
import numpy as np

from benchmarks import compile_time
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
THRESHOLD = 0.9  # normalized score of "reached the expert's level"
PEER_TARGET = 100.0  # per-seed wall-time ratio to 0.9, imitation / jaxil, GAIL and AIRL at >= 16 seeds
PEER_MIN_SEEDS = 16
PEER_GOAL_ALGOS = ("gail", "airl")


@dataclasses.dataclass(frozen=True)
class Suite:
    """What one suite measures; ``quick`` and ``full`` are the two presets in :data:`SUITES`."""

    name: str
    env_batches: tuple[int, ...] = (8, 64, 512)
    """Parallel envs of the wrapper-overhead rows (cartpole)."""
    env_steps: int = 64
    env_reps: int = 5
    loop_algos: tuple[str, ...] = ("ppo", "gail", "airl", "dagger", "valuedice")
    loop_seeds: tuple[tuple[str, int], ...] = (("default", 16), ("dagger", 4), ("valuedice", 2))
    """Seeds per algorithm in the loop-efficiency rows (``default`` for the rest)."""
    loop_reps: int = 3
    loop_brax_envs: tuple[str, ...] = ("hopper",)
    """Brax envs of further loop-efficiency rows: there the env step, not the learning, sets the pace."""
    loop_brax_algos: tuple[str, ...] = ("ppo", "gail")
    loop_brax_seeds: int = 2
    compile_extra: tuple[str, ...] = ("bc", "sac")
    """Algorithms whose compile time is measured on their own (the rest come with loop_efficiency)."""
    bc_seeds: tuple[int, ...] = (1, 8, 64)
    bc_updates: int = 2000
    bc_reps: int = 3
    mce_seeds: tuple[int, ...] = (1, 64)
    mce_iters: int = 1000
    mce_reps: int = 3
    mce_imitation_runs: int = 3
    peer_algos: tuple[str, ...] = ("gail", "airl", "dagger")
    """Comparisons run through benchmarks.peers (those it does not have yet are listed as such)."""
    peer_seeds: tuple[int, ...] = (16,)
    peer_quick: bool = True
    """benchmarks.peers' quick budget (10 rounds of 16384 env steps, one imitation seed)."""
    scaling_algos: tuple[str, ...] = ("ppo",)
    scaling_seeds: tuple[int, ...] = (1, 8, 64, 256)
    scaling_quick: bool = True
    scaling_reps: int = 1
    device_seeds: int = 32
    """Total seeds split over 1, 2, 4, ... devices."""
    device_timeout_s: int = 90
    """Limit of the child process that measures CPU device scaling."""
    brax_envs: tuple[str, ...] = ()
    brax_algos: tuple[str, ...] = ("ppo", "gail", "airl", "valuedice")
    brax_seeds: tuple[int, ...] = (1, 16, 256)
    brax_budget_scale: float = 1.0
    """Multiplies every Brax training budget (e.g. 0.01 for a smoke run)."""
    sections: tuple[str, ...] = ()
    """Only these sections (empty: all)."""


SUITES = {
    "quick": Suite("quick"),
    "full": Suite("full", env_batches=(8, 64, 512, 4096), env_steps=128, env_reps=7,
                  loop_seeds=(("default", 256), ("dagger", 64), ("valuedice", 64)), loop_brax_seeds=64,
                  bc_seeds=(1, 8, 64, 256), mce_seeds=(1, 64, 256), peer_seeds=(1, 16, 256), peer_quick=False,
                  scaling_algos=("ppo", "gail", "bc"), scaling_seeds=(1, 8, 64, 256, 1024), scaling_quick=False,
                  scaling_reps=2, device_seeds=1024, brax_envs=("hopper", "halfcheetah", "ant")),
}


def _seeds_of(suite: Suite) -> dict:
    return dict(suite.loop_seeds)


def _goal(name: str, target: str, measured, met: bool, **extra) -> dict:
    return {"name": name, "target": target, "measured": None if measured is None else round(float(measured), 4),
            "met": bool(met), **extra}


# ---- sections ---------------------------------------------------------------------


def env_overhead(suite: Suite, log) -> dict:
    from benchmarks import env_throughput as et

    rows = []
    for batch in suite.env_batches:
        rows.append(et.measure("cartpole", batch, suite.env_steps, suite.env_reps, ("bare", "jaxil")))
        r = rows[-1]
        log(f"env overhead cartpole x{batch}: bare {r['bare_steps_per_s']:,.0f} jaxil {r['jaxil_steps_per_s']:,.0f} "
            f"steps/s, overhead {100 * r['wrapper_overhead']:+.1f}%")
    goals = [dict(g, target=g["target"]) for g in et.goals_of(rows)]
    return {"rows": rows, "goals": goals}


def loop_efficiency(suite: Suite, log) -> dict:
    from benchmarks import loop_efficiency as le

    out = le.run_all(suite.loop_algos, "cartpole", _seeds_of(suite), suite.loop_reps, log=log)
    for env_name in suite.loop_brax_envs:
        more = le.run_all(suite.loop_brax_algos, env_name, suite.loop_brax_seeds, suite.loop_reps, log=log)
        out = {"rows": out["rows"] + more["rows"], "goals": out["goals"] + more["goals"]}
    return out


def compile_times(suite: Suite, log, loop_rows: list[dict] | None = None) -> dict:
    rows = [compile_time.row_from_loop_efficiency(r) for r in (loop_rows or []) if "skipped" not in r]
    rows += compile_time.run_all(suite.compile_extra, (1,), log=log)
    return {"rows": rows, "goals": []}


def peers(suite: Suite, log) -> dict:
    """GAIL / AIRL to 0.9 (benchmarks.peers), BC updates/s, MCE IRL runs, each vs `imitation`."""
    out: dict = {"comparisons": [], "goals": [], "notes": []}
    have_peers = importlib.util.find_spec("benchmarks.peers") is not None
    for algo in suite.peer_algos:
        if not have_peers:
            c = {"algo": algo, "env": "cartpole", "skipped": "benchmarks.peers is missing"}
        else:
            from benchmarks import peers as pr

            if algo not in pr.PEERS:
                c = {"algo": algo, "env": "cartpole", "skipped": "no comparison in benchmarks.peers yet"}
            else:
                c = pr.PEERS[algo](seeds=suite.peer_seeds, quick=suite.peer_quick)
                for r in [*c.get("jaxil", []), c.get("imitation", {})]:
                    if "skipped" in r:
                        log(f"peers {algo}: imitation {r['skipped']}")
                    elif "wall_s_end_to_end" in r:
                        log(f"peers {algo} {r['library']} x{r['seeds']}: wall {r['wall_s_end_to_end']:.1f}s, final "
                            f"{r['final_normalized_mean']:.2f}, per-seed to 0.9 {r['per_seed_time_to_0.9_s']}")
        out["comparisons"].append(c)
        if algo in PEER_GOAL_ALGOS:
            out["goals"].append(_peer_goal(c))
    from benchmarks import bc_throughput, mce_irl

    out["bc"] = bc_throughput.run(suite.bc_seeds, suite.bc_updates, suite.bc_reps)
    log(f"peers bc: goal {out['bc']['goal']['measured']}")
    out["mce_irl"] = mce_irl.run(("linear", "mlp"), suite.mce_seeds, suite.mce_iters, suite.mce_reps,
                                 suite.mce_imitation_runs)
    log(f"peers mce irl: goal {out['mce_irl']['goal']['measured']}")
    for res in (out["bc"], out["mce_irl"]):
        g = res["goal"]
        extra = _peer_note(res)
        if g.get("measured_warm") is not None:
            # A goal that counts compilation reports its warm figure beside it (MCE IRL's).
            warm = f"warm (compilation excluded): {g['measured_warm']:.1f}x"
            extra = {"measured_warm": round(float(g["measured_warm"]), 4),
                     "note": "; ".join(filter(None, [extra.get("note"), warm]))}
        layout = {k: g[k] for k in ("devices", "one_device_measured") if g.get(k) is not None}
        out["goals"].append(_goal(g["name"], f">= {g['target']:g}", g["measured"], g["met"], **extra, **layout))
    return out


def _peer_note(res: dict) -> dict:
    peer = res["imitation"]
    peer = peer if isinstance(peer, list) else [peer]
    skipped = [p["skipped"] for p in peer if p and "skipped" in p]
    return {"note": skipped[0]} if skipped else {}


def _peer_goal(c: dict) -> dict:
    algo = c["algo"]
    name = (f"{algo.upper()} per-seed wall time to {THRESHOLD} normalized, imitation / jaxil, at >= {PEER_MIN_SEEDS} "
            f"seeds ({c['env']}), final score at least the peer's")
    target = f">= {PEER_TARGET:g}"
    if "skipped" in c:
        return _goal(name, target, None, False, note=c["skipped"])
    if "skipped" in c["imitation"]:
        return _goal(name, target, None, False, note=c["imitation"]["skipped"])
    big = [r for r in c["jaxil"] if r["seeds"] >= PEER_MIN_SEEDS]
    if not big:
        return _goal(name, target, None, False, note=f"no jaxil run with >= {PEER_MIN_SEEDS} seeds")
    r = max(big, key=lambda x: x["seeds"])
    sp = r.get("speedup_time_to_0.9")
    score_ok = bool(r.get("score_at_least_peer"))
    return _goal(name, target, sp, sp is not None and sp >= PEER_TARGET and score_ok, seeds=r["seeds"],
                 kind=r.get("speedup_kind"), jaxil_final=r["final_normalized_mean"],
                 imitation_final=c["imitation"]["final_normalized_mean"], score_at_least_peer=score_ok)


def seed_scaling(suite: Suite, log) -> dict:
    from benchmarks import seed_scaling as ss

    rows = ss.run(suite.scaling_algos, suite.scaling_seeds, suite.scaling_quick, suite.scaling_reps, log=log)
    backend = jax.default_backend()
    goals = ss.goals_of(rows, "cpu" if backend == "cpu" else "gpu")
    other = "gpu" if backend == "cpu" else "cpu"
    cited = _cite_scaling_goal(other)
    if cited:
        goals.append(cited)
    descriptions = {n: ss.ALGOS[n](suite.scaling_quick).description for n in suite.scaling_algos}
    return {"rows": rows, "goals": goals, "descriptions": descriptions}


def _cite_scaling_goal(backend: str) -> dict | None:
    """The other backend's seed-scaling goal from the newest stored result measured there."""
    from benchmarks import seed_scaling as ss

    candidates = []
    for path in glob.glob(os.path.join(RESULTS, "seed_scaling-*.json")):
        try:
            with open(path) as f:
                res = json.load(f)
            if res.get("meta", {}).get("backend") == backend:
                candidates.append((res["meta"]["date"], path, res))
        except (OSError, ValueError, KeyError):
            continue
    for date, path, res in sorted(candidates, reverse=True):
        g = ss.goals_of(res["rows"], backend)[0]
        if g["measured"] is not None:
            return dict(g, source=os.path.relpath(path, HERE), measured_on=f"{res['meta']['device']}, {date}")
    return None


def device_scaling(suite: Suite, log) -> dict:
    """Per-seed cost of PPO vs devices; a one-device CPU gets a child process with host devices."""
    from benchmarks import seed_scaling as ss

    n = len(jax.devices())
    if n > 1:
        counts = [d for d in (1, 2, 4, 8, 16) if d <= n]
        rows = ss.device_scaling("ppo", suite.device_seeds, counts, suite.scaling_quick, suite.scaling_reps, log=log)
        return {"rows": rows, "goals": [], "how": f"{n} {jax.default_backend()} devices in this process"}
    if jax.default_backend() != "cpu":
        return {"rows": [], "goals": [], "how": "one accelerator: no device scaling to measure"}
    cores = min(os.cpu_count() or 1, 8)
    counts = [d for d in (1, 2, 4, 8) if d <= cores]
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                                      f" --xla_force_host_platform_device_count={cores}").strip())
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "benchmarks.seed_scaling", "--algos", "ppo", "--seeds", str(suite.device_seeds),
               "--devices", ",".join(map(str, counts)), "--reps", str(suite.scaling_reps), "--out", out]
        if suite.scaling_quick:
            cmd.append("--quick")
        try:
            proc = subprocess.run(cmd, env=env, cwd=os.path.dirname(HERE), capture_output=True, text=True,
                                  timeout=suite.device_timeout_s)
        except subprocess.TimeoutExpired as e:
            done = [line for line in (e.stdout or b"").decode(errors="replace").splitlines() if "device(s)" in line]
            return {"rows": [], "goals": [], "how": f"{cores} host CPU devices in a child process",
                    "reason": f"the child did not finish in {suite.device_timeout_s} s (done: {done or 'nothing'}); "
                              "programs running concurrently on several host CPU devices have been seen to wedge "
                              "with jaxil's CPU XLA flags, so CPU device scaling is not measured here"}
        if proc.returncode:
            raise RuntimeError(f"device scaling child failed: {proc.stderr.strip().splitlines()[-1:]}")
        for line in proc.stdout.splitlines():
            log(line)
        with open(glob.glob(os.path.join(out, "device_scaling-*.json"))[0]) as f:
            res = json.load(f)
    return {"rows": res["rows"], "goals": [],
            "how": f"{cores} host CPU devices (--xla_force_host_platform_device_count) in a child process"}


SECTIONS: dict[str, Callable] = {
    "env_overhead": env_overhead, "loop_efficiency": loop_efficiency, "compile_time": compile_times,
    "peers": peers, "seed_scaling": seed_scaling, "device_scaling": device_scaling,
}


# ---- Brax tasks (full suite) ------------------------------------------------------------

BRAX_BUDGETS = {"ppo": 3000, "gail": 2000, "airl": 2000, "valuedice": 200_000}
"""Trainer steps per run: PPO's expert recipe, `jaxil train`'s Brax defaults for GAIL / AIRL
(2000 iterations of 2048 env steps), ValueDICE 200k env steps (one env, one update each)."""
BRAX_EVALS = 20  # evaluations (and chunks) per run
EXPERT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "jaxil", "benchmark_experts")


class _AllReached(Exception):
    """Raised from ``on_chunk`` to end a run once every seed has reached the threshold."""


def brax_demos(env_name: str, log):
    """``(demos, (random, expert) returns)``: shipped demos, else a PPO expert trained here once (cached)."""
    from jaxil import data, envs, experts, runs

    env = envs.make(env_name)
    if env_name in experts.SHIPPED:
        demos, meta = runs.load_task_demos(env_name, env, None)
        return demos, (meta.random_return, meta.expert_return)
    path = os.path.join(EXPERT_CACHE, env_name, "demos.npz")
    if not os.path.exists(path):
        log(f"brax {env_name}: no shipped expert; training one with the PPO recipe (8 seeds)")
        res = experts.train_experts(env_name, num_seeds=8)
        rec = res.recipe
        demos, meta = experts.collect_expert_demos(env_name, res.spec, res.params, rec.demo_episodes,
                                                   jax.random.PRNGKey(1), float(res.returns[res.best_seed]),
                                                   res.random_return, "benchmark suite PPO expert")
        data.save_demos(path, demos, meta)
    demos, meta = runs.load_task_demos(path, env, None)
    return demos, (meta.random_return, meta.expert_return)


def _brax_trainer(algo: str, env):
    from jaxil import experts, runs

    if algo == "ppo":
        rec = experts.recipe(env.spec.name)
        return experts.make_trainer(rec, env), rec.hparams, False
    if algo == "valuedice":
        vd = importlib.import_module("jaxil.algos.valuedice")
        return vd.make_train(vd.Config(), env), vd.Hparams(), True
    trainer, _, hparams, _, _ = runs.build_trainer(algo, env)
    return trainer, hparams, True


def brax_time_to_score(env_name: str, algo: str, seeds: int, demos, refs, budget_scale: float = 1.0,
                       eval_episodes: int = 8) -> dict:
    """One vmapped run of ``seeds`` seeds: env steps/s and wall time until each seed scores 0.9.

    Evaluation (deterministic policy, every ``1/BRAX_EVALS`` of the budget) is off the
    clock; the run ends early once every seed has reached the threshold.
    """
    from jaxil import envs, eval as ev, loop, sweep

    env = envs.make(env_name)
    trainer, hparams, uses_demos = _brax_trainer(algo, env)
    steps = max(BRAX_EVALS, int(BRAX_BUDGETS[algo] * budget_scale) // BRAX_EVALS * BRAX_EVALS)
    chunk = steps // BRAX_EVALS
    evaluate = sweep.make_evaluate(env, trainer, eval_episodes)
    k_train, k_eval = jax.random.split(jax.random.PRNGKey(0))
    start = time.perf_counter()
    clock = {"eval_s": 0.0, "chunks": [], "hit": [None] * seeds, "scores": None}

    def on_chunk(done, state, metrics):
        t = time.perf_counter()
        clock["chunks"].append((done, t - start - clock["eval_s"]))
        returns, _ = evaluate(state, jax.random.split(jax.random.fold_in(k_eval, done), seeds))
        scores = np.asarray(ev.normalized_score(np.asarray(returns, np.float64), *refs))
        clock["scores"] = scores
        for i, sc in enumerate(scores):
            if clock["hit"][i] is None and sc >= THRESHOLD:
                clock["hit"][i] = clock["chunks"][-1][1]
        clock["eval_s"] += time.perf_counter() - t
        if all(h is not None for h in clock["hit"]):
            raise _AllReached

    try:
        loop.run(trainer, jax.random.split(k_train, seeds), hparams, steps, demos=demos if uses_demos else None,
                 chunk_steps=chunk, on_chunk=on_chunk)
    except _AllReached:
        pass
    per_step = trainer.env_steps_per_step
    (_, t_first), (done_last, t_last) = clock["chunks"][0], clock["chunks"][-1]
    steady = None
    if len(clock["chunks"]) > 1:  # the first chunk pays for compilation
        steady = seeds * per_step * (done_last - chunk) / max(t_last - t_first, 1e-9)
    hit = clock["hit"]
    reached = sum(h is not None for h in hit)
    scores = clock["scores"]
    return {"env": env_name, "algo": algo, "seeds": seeds, "trainer_steps": clock["chunks"][-1][0],
            "budget_trainer_steps": steps, "env_steps_per_seed": clock["chunks"][-1][0] * per_step,
            "env_steps_per_s": steady, "compile_s": t_first - (t_last - t_first) / max(len(clock["chunks"]) - 1, 1)
            if steady else None, "seeds_reaching_0.9": reached,
            "time_to_0.9_s": hit, "all_seeds_time_to_0.9_s": max(hit) if reached == seeds else None,
            "per_seed_time_to_0.9_s": max(hit) / seeds if reached == seeds else None,
            "final_normalized_mean": float(scores.mean()), "final_normalized_worst": float(scores.min()),
            "eval_s_excluded": clock["eval_s"], "refs": list(refs)}


def brax(suite: Suite, log) -> dict:
    rows, notes = [], []
    for env_name in suite.brax_envs:
        try:
            demos, refs = brax_demos(env_name, log)
        except Exception as e:  # noqa: BLE001
            rows += [{"env": env_name, "algo": a, "error": f"no expert demos: {type(e).__name__}: {e}"}
                     for a in suite.brax_algos]
            continue
        for algo in suite.brax_algos:
            if algo == "valuedice" and importlib.util.find_spec("jaxil.algos.valuedice") is None:
                rows.append({"env": env_name, "algo": algo, "skipped": "jaxil.algos.valuedice is not installed"})
                continue
            for n in suite.brax_seeds:
                try:
                    rows.append(brax_time_to_score(env_name, algo, n, demos, refs, suite.brax_budget_scale))
                    r = rows[-1]
                    log(f"brax {env_name} {algo} x{n}: {_fmt_rate(r['env_steps_per_s'])} env steps/s, "
                        f"{r['seeds_reaching_0.9']}/{n} reached 0.9, final {r['final_normalized_mean']:.2f}")
                except Exception as e:  # noqa: BLE001  (e.g. out of memory at 256 seeds)
                    rows.append({"env": env_name, "algo": algo, "seeds": n, "error": f"{type(e).__name__}: {e}"})
                    log(f"brax {env_name} {algo} x{n} failed: {rows[-1]['error']}")
    if suite.brax_budget_scale != 1.0:
        notes.append(f"Budgets scaled by {suite.brax_budget_scale} (a smoke run, not the full budgets).")
    return {"rows": rows, "goals": [], "notes": notes, "budgets": BRAX_BUDGETS}


def _fmt_rate(v):
    return "-" if v is None else f"{v:,.0f}"


SECTIONS["brax"] = brax


# ---- the run ------------------------------------------------------------------------


def _failed(name: str, error: BaseException) -> dict:
    return {"rows": [], "goals": [], "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=6)}


# Goals expected from each section, so that a failed section still lists them as not met.
EXPECTED_GOALS = {
    "loop_efficiency": ["loop efficiency PPO", "loop efficiency GAIL"],
    "peers": ["GAIL per-seed wall time to 0.9", "AIRL per-seed wall time to 0.9", "BC per-seed speedup",
              "MCE IRL per-run speedup"],
    "env_overhead": ["jaxil wrapper overhead vs bare rollout, cartpole"],
    "seed_scaling": ["PPO seed scaling"],
}


def run(suite: Suite, out_dir: str = RESULTS, log=None, previous: dict | None = None) -> tuple[dict, str]:
    """Runs every section of ``suite``; writes the JSON and the report; returns (result, md path).

    ``previous`` (a suite JSON of the same suite and device): its sections that did not
    fail are kept as they are and only the failed or missing ones run again.
    """
    log = log or (lambda m: print(m, flush=True))
    names = [s for s in SECTIONS if (not suite.sections or s in suite.sections)
             and (s != "brax" or suite.brax_envs)]
    start, load_start = time.perf_counter(), os.getloadavg()
    sections: dict = {}
    kept = {k: v for k, v in (previous or {}).get("sections", {}).items() if "error" not in v and k in names}
    for name in names:
        if name in kept:
            sections[name] = dict(kept[name], from_previous_run=previous["date"])
            log(f"== {name}: kept from the previous run")
            continue
        log(f"== {name}")
        t = time.perf_counter()
        try:
            if name == "compile_time":
                loop_rows = sections.get("loop_efficiency", {}).get("rows")
                sections[name] = compile_times(suite, log, loop_rows)
            else:
                sections[name] = SECTIONS[name](suite, log)
        except Exception as e:  # noqa: BLE001  (a failed section is reported, the rest still run)
            sections[name] = _failed(name, e)
            log(f"{name} failed: {sections[name]['error']}")
        sections[name]["wall_s"] = time.perf_counter() - t
        log(f"   {name}: {sections[name]['wall_s']:.0f}s")
    goals = []
    for name in names:
        sec = sections[name]
        goals += sec.get("goals", [])
        if "error" in sec:
            goals += [_goal(g, "see the section", None, False, note=f"section failed: {sec['error']}")
                      for g in EXPECTED_GOALS.get(name, [])]
    device = device_name()
    result = {
        "benchmark": "suite", "suite": suite.name, "date": datetime.date.today().isoformat(),
        "device": device, "backend": jax.default_backend(), "num_devices": len(jax.devices()),
        "jax": jax.__version__, "jaxil": getattr(jaxil, "__version__", None), "python": platform.python_version(),
        "platform": platform.platform(), "cpu_count": os.cpu_count(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "peers_installed": importlib.util.find_spec("imitation") is not None,
        "load_avg_1m": {"start": load_start[0], "end": os.getloadavg()[0]},
        "wall_s": time.perf_counter() - start if not kept else sum(sec["wall_s"] for sec in sections.values()),
        "rerun_sections": None if not kept else [n for n in names if n not in kept],
        "config": dataclasses.asdict(suite),
        "goals": goals, "sections": sections,
    }
    from benchmarks import report

    # a partial run does not replace the whole suite's report
    stem = report.result_stem(out_dir, "", result["date"], "" if suite.name == "full" else suite.name,
                              "only-" + "+".join(names) if suite.sections else "", device=device)
    report.save_json(stem, result, default=_jsonable)
    md = report.write(result, stem)
    return result, md


def _jsonable(x):
    if isinstance(x, (np.generic,)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return repr(x)
