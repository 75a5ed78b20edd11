"""Env steps/s: a bare vmapped rollout vs. jaxil's wrappers vs. a full PPO iteration.

    python -m benchmarks.env_throughput [--quick] [--envs cartpole,hopper] [--batch 1,8,64,512]

For every env and batch size, three programs are compiled and then timed side by
side (interleaved repetitions, median):

- ``bare``:  what a user of the backend would run without jaxil, with actions from a
  policy MLP the size of PPO's actor (:class:`jaxil.nets.Actor`, sampled): gymnax's
  own auto-resetting ``env.step`` (its time limit included), or the Brax env under
  Brax's ``EpisodeWrapper`` + ``AutoResetWrapper`` (what Brax's trainers run).
- ``jaxil``: the same rollout through ``jaxil.envs.make`` (time limit, auto-reset
  that keeps the true final observation, terminated/truncated split, episode stats),
  with the env's default auto-reset mode (fresh initial states for gymnax, cached
  ones for Brax; recorded per row as ``jaxil_reset_mode``).
- ``ppo``:   one full PPO iteration (``jaxil.rl.ppo.make_train`` with the default
  config but ``num_envs = batch`` and ``num_steps`` = the rollout length: rollout +
  GAE + 4 epochs x 4 minibatches), counted in env steps/s.

Each program is a jitted function ``state -> state`` that runs ``steps`` steps of
``batch`` envs; the state is carried from one repetition to the next, so episodes
end and reset at their steady-state rate and the reset from ``make``/``init`` is not
timed. Every mode gets the same policy parameters, and continuous actions are
clipped to the action bounds in ``bare`` as jaxil does, so both see the same
dynamics.

Diagnostic modes, only run when named in ``--modes``: ``jaxil_fresh`` and
``jaxil_cached`` force jaxil's auto-reset mode (``make(name, reset=...)``), which
shows what drawing a fresh initial state at every step costs under ``vmap``.

``--quick`` (64-step rollouts, 5 repetitions) stops Brax envs at 64 parallel envs:
on a small CPU each Brax batch size costs about half a minute of compilation.

Ratios, not absolute rates, are the result on a shared CPU: they come from one run
with the modes interleaved. Writes ``<out>/env_throughput-<date>-<device>.json`` and
a markdown table beside it (``-quick`` and non-default modes go into the name).
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import dataclasses
import datetime
import functools
import math
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

from jaxil import envs, policy as pol
from jaxil.rl import ppo
from benchmarks import report
from benchmarks.report import device_name

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("bare", "jaxil", "ppo")
OVERHEAD_TARGET = 0.10


def _policy(spec: envs.EnvSpec, config: ppo.Config):
    """PPO's actor (same hidden sizes, activation and kind) with fixed parameters."""
    pspec = pol.PolicySpec(spec, pol.PolicySpec.default_kind(spec), tuple(config.hidden), config.activation)
    return pspec, pspec.init(jax.random.PRNGKey(0))


# ---- the three programs ----------------------------------------------------------
# Each builder returns ``(state, run)``: ``run(state, key) -> state`` is jitted and
# advances ``batch`` envs by ``steps`` steps (or one PPO iteration).


def bare_rollout(name: str, batch: int, steps: int, config: ppo.Config):
    """The backend's own auto-resetting step under ``jit(scan(vmap))``."""
    jenv = envs.make(name)  # only for the spec, the action bounds and the time limit
    spec = jenv.spec
    pspec, params = _policy(spec, config)
    if name in envs.GYMNAX_TASKS:
        import gymnax

        genv, gparams = gymnax.make(envs.GYMNAX_TASKS[name][0])
        gparams = gparams.replace(max_steps_in_episode=spec.max_episode_steps)
        scalar_action = not spec.discrete and spec.action_size == 1

        def reset(key):
            obs, state = genv.reset(key, gparams)
            return obs.astype(jnp.float32), state

        def env_step(key, carry, action):
            obs, state = carry
            if scalar_action:
                action = action[0]
            # (obs, state, reward, done, info), plus a truncation flag in newer gymnax
            obs, state, reward = genv.step(key, state, action, gparams)[:3]
            return (obs.astype(jnp.float32), state), reward

        def body(carry, key):
            k_act, k_env = jax.random.split(key)
            action, _ = pol.sample(pspec, params, carry[0], k_act)
            if not spec.discrete:
                action = jnp.clip(action, jnp.asarray(spec.action_low), jnp.asarray(spec.action_high))
            carry, reward = jax.vmap(env_step)(jax.random.split(k_env, batch), carry, action)
            return carry, reward
    elif name in envs.BRAX_TASKS:
        from brax import envs as brax_envs
        from brax.envs.wrappers import training as brax_wrappers

        options = dict(jenv.spec.options)
        benv = brax_envs.get_environment(name, **options)
        benv = brax_wrappers.EpisodeWrapper(benv, spec.max_episode_steps, action_repeat=1)
        benv = brax_wrappers.AutoResetWrapper(benv)
        low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)

        def reset(key):
            s = benv.reset(key)
            return s.obs, s

        def body(carry, key):
            obs, state = carry
            action, _ = pol.sample(pspec, params, obs, key)
            state = jax.vmap(benv.step)(state, jnp.clip(action, low, high))
            return (state.obs, state), state.reward
    else:
        raise ValueError(f"no bare baseline for env {name!r}")

    @jax.jit
    def run(carry, key):
        new, _ = jax.lax.scan(body, carry, jax.random.split(key, steps))
        # Brax's wrappers return some fields weakly typed; cast back so the next call
        # hits the same compiled program.
        return jax.tree.map(lambda n, o: jax.lax.convert_element_type(n, o.dtype), new, carry)

    return jax.jit(jax.vmap(reset))(jax.random.split(jax.random.PRNGKey(1), batch)), run


def jaxil_rollout(name: str, batch: int, steps: int, config: ppo.Config, reset: str = "auto"):
    """The same rollout through ``jaxil.envs.make(name)`` (``EpisodeEnv``)."""
    env = envs.make(name, reset=reset)
    pspec, params = _policy(env.spec, config)
    step_env = jax.vmap(env.step)

    def body(state, key):
        action, _ = pol.sample(pspec, params, state.obs, key)
        return step_env(state, action), None

    @jax.jit
    def run(state, key):
        state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
        return state

    return jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), batch)), run


def ppo_iteration(name: str, batch: int, steps: int, config: ppo.Config):
    """One ``Trainer.step`` of PPO: rollout of ``batch`` x ``steps`` + update."""
    env = envs.make(name)
    trainer = ppo.make_train(config, env)
    hp = jax.tree.map(jnp.asarray, ppo.Hparams())
    step = jax.jit(trainer.step)

    def run(state, key):
        del key  # the trainer state carries its own key
        return step(state, None, hp)[0]

    return jax.jit(trainer.init)(jax.random.PRNGKey(1), None, hp), run


BUILDERS = {
    "bare": bare_rollout,
    "jaxil": jaxil_rollout,
    "ppo": ppo_iteration,
    # Diagnostics, not run by default: jaxil with its auto-reset mode forced.
    "jaxil_fresh": functools.partial(jaxil_rollout, reset="fresh"),
    "jaxil_cached": functools.partial(jaxil_rollout, reset="cached"),
}
JAXIL_MODES = {"jaxil": "auto", "jaxil_fresh": "fresh", "jaxil_cached": "cached"}


def ppo_config(batch: int, steps: int) -> ppo.Config:
    base = ppo.Config()
    minibatches = base.num_minibatches if (batch * steps) % base.num_minibatches == 0 else 1
    return dataclasses.replace(base, num_envs=batch, num_steps=steps, num_minibatches=minibatches)


# ---- measurement ---------------------------------------------------------------


def measure(name: str, batch: int, steps: int, reps: int, modes=MODES, min_rep_s: float = 0.1) -> dict:
    """Compiles every mode, then times ``reps`` interleaved repetitions of each."""
    config = ppo_config(batch, steps)
    states, runs, compile_s = {}, {}, {}
    for mode in modes:
        t = time.perf_counter()
        state, run = BUILDERS[mode](name, batch, steps, config)
        for i in range(2):  # compile + warm up; a second call would expose a retrace
            state = jax.block_until_ready(run(state, jax.random.PRNGKey(i)))
        compile_s[mode] = time.perf_counter() - t
        states[mode], runs[mode] = state, run
    # Small programs take well under a millisecond: time enough back-to-back calls
    # per repetition that dispatch and timer noise do not count.
    calls = {}
    for mode in modes:
        t = time.perf_counter()
        states[mode] = jax.block_until_ready(runs[mode](states[mode], jax.random.PRNGKey(0)))
        calls[mode] = max(1, math.ceil(min_rep_s / max(time.perf_counter() - t, 1e-6)))
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(reps):  # interleaved, so drift on the machine hits every mode alike
        order = modes if r % 2 == 0 else modes[::-1]
        for mode in order:
            keys = list(jax.random.split(jax.random.PRNGKey(r + 1), calls[mode]))
            state = states[mode]
            t = time.perf_counter()
            for key in keys:
                state = runs[mode](state, key)
            states[mode] = jax.block_until_ready(state)
            times[mode].append((time.perf_counter() - t) / calls[mode])
    rates = {m: batch * steps / statistics.median(ts) for m, ts in times.items()}
    row = {"env": name, "batch": batch, "steps": steps, "reps": reps,
           "jaxil_reset_mode": envs.make(name).reset_mode}
    for m in modes:
        row[f"{m}_steps_per_s"] = rates[m]
        row[f"{m}_median_s"] = statistics.median(times[m])
        row[f"{m}_spread"] = (max(times[m]) - min(times[m])) / statistics.median(times[m])
        row[f"{m}_compile_s"] = compile_s[m]
        row[f"{m}_calls_per_rep"] = calls[m]
    if "bare" in rates and "jaxil" in rates:
        row["wrapper_overhead"] = 1.0 - rates["jaxil"] / rates["bare"]
    for m in ("jaxil_fresh", "jaxil_cached"):
        if "bare" in rates and m in rates:
            row[f"{m}_overhead"] = 1.0 - rates[m] / rates["bare"]
    if "bare" in rates and "ppo" in rates:
        row["ppo_fraction_of_bare"] = rates["ppo"] / rates["bare"]
    return row


def goals_of(rows: list[dict]) -> list[dict]:
    goals = []
    with_overhead = [r for r in rows if "wrapper_overhead" in r]
    for name in dict.fromkeys(r["env"] for r in with_overhead):
        env_rows = [r for r in with_overhead if r["env"] == name]
        worst = max(env_rows, key=lambda r: r["wrapper_overhead"])
        goals.append({
            "name": f"jaxil wrapper overhead vs bare rollout, {name} (worst batch: {worst['batch']})",
            "target": f"<= {OVERHEAD_TARGET:.2f}",
            "measured": round(worst["wrapper_overhead"], 4),
            "met": bool(worst["wrapper_overhead"] <= OVERHEAD_TARGET),
        })
    return goals


def write_report(rows: list[dict], out_dir: str, meta: dict) -> str:
    stem = report.result_stem(out_dir, "env_throughput", datetime.date.today().isoformat(),
                              "quick" if meta["quick"] else "",
                              "+".join(meta["modes"]) if tuple(meta["modes"]) != MODES else "")
    goals = goals_of(rows)
    payload = {"benchmark": "env_throughput", **meta, "rows": rows, "goals": goals}
    report.save_json(stem, payload, indent=2)
    extra = [m for m in ("jaxil_fresh", "jaxil_cached") if any(f"{m}_steps_per_s" in r for r in rows)]
    title = f"# Env throughput ({meta['device']}, jax {meta['jax']}{', quick' if meta['quick'] else ''})"
    lines = [title, "",
             f"Env steps per second (median of {rows[0]['reps']} interleaved repetitions of "
             f"{rows[0]['steps']} steps x envs; PPO: one iteration with num_steps={rows[0]['steps']}, "
             "update included). Overhead = 1 - jaxil/bare; jaxil's auto-reset mode in brackets.", "",
             "| env | envs | bare | jaxil | PPO iteration | wrapper overhead | PPO / bare |" + "".join(
                 f" {m} | {m} overhead |" for m in extra),
             "|---|---:|---:|---:|---:|---:|---:|" + "---:|---:|" * len(extra)]

    def cell(r, key, fmt, scale=1.0):
        return fmt.format(scale * r[key]) if key in r else "-"

    for r in rows:
        lines.append(
            f"| {r['env']} | {r['batch']} | {cell(r, 'bare_steps_per_s', '{:,.0f}')} | "
            f"{cell(r, 'jaxil_steps_per_s', '{:,.0f}')} ({r['jaxil_reset_mode']}) | "
            f"{cell(r, 'ppo_steps_per_s', '{:,.0f}')} | "
            f"{cell(r, 'wrapper_overhead', '{:+.1f}%', 100)} | {cell(r, 'ppo_fraction_of_bare', '{:.0f}%', 100)} |"
            + "".join(f" {cell(r, f'{m}_steps_per_s', '{:,.0f}')} | {cell(r, f'{m}_overhead', '{:+.1f}%', 100)} |"
                      for m in extra))
    lines += ["", "Goals:", ""]
    for g in goals:
        lines.append(f"- {g['name']}: target {g['target']}, measured {g['measured']:+.3f} "
                     f"({'met' if g['met'] else 'NOT met'})")
    for note in meta.get("notes", []):
        lines += ["", note]
    report.save_markdown(stem, "\n".join(lines))
    return stem


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="64-step rollouts, 5 repetitions, Brax envs only up to 64 parallel envs (CPU smoke run)")
    p.add_argument("--envs", default="cartpole,inverted_pendulum", help="comma-separated jaxil env names")
    p.add_argument("--batch", default="1,8,64,512", help="comma-separated numbers of parallel envs")
    p.add_argument("--modes", default=",".join(MODES),
                   help=f"comma-separated, from {','.join(BUILDERS)} (the last two force jaxil's reset mode)")
    p.add_argument("--steps", type=int, default=None, help="rollout length = PPO num_steps (default 128, quick 64)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 7, quick 5)")
    p.add_argument("--max-brax-batch", type=int, default=None,
                   help="skip larger batches for Brax envs (default: none, quick: 64)")
    p.add_argument("--min-rep-s", type=float, default=None,
                   help="least seconds per timed repetition (default 0.2, quick 0.1)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    steps = args.steps or (64 if args.quick else 128)
    reps = args.reps or (5 if args.quick else 7)
    min_rep_s = args.min_rep_s or (0.1 if args.quick else 0.2)
    max_brax = args.max_brax_batch or (64 if args.quick else None)
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(modes) - set(BUILDERS)
    if unknown or not modes:
        p.error(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(BUILDERS)}" if unknown
                else f"--modes names no mode; choose from {', '.join(BUILDERS)}")
    batches = [int(b) for b in args.batch.split(",")]
    names = [n for n in args.envs.split(",") if n]
    for n in names:
        envs.spec_of(n)  # fail fast on a typo

    notes, rows = [], []
    start = time.perf_counter()
    print(f"device {device_name()} ({jax.default_backend()}), steps {steps}, reps {reps}", flush=True)
    for name in names:
        for batch in batches:
            if name in envs.BRAX_TASKS and max_brax is not None and batch > max_brax:
                note = f"{name} with {batch} envs skipped (--max-brax-batch {max_brax}{', set by --quick' if args.quick and args.max_brax_batch is None else ''})."
                notes.append(note)
                print(note, flush=True)
                continue
            row = measure(name, batch, steps, reps, modes, min_rep_s)
            rows.append(row)
            parts = [f"{m} {row[f'{m}_steps_per_s']:11,.0f}" for m in modes]
            if "wrapper_overhead" in row:
                parts.append(f"overhead {100 * row['wrapper_overhead']:+6.1f}%")
            for m in ("jaxil_fresh", "jaxil_cached"):
                if f"{m}_overhead" in row:
                    parts.append(f"{m} overhead {100 * row[f'{m}_overhead']:+6.1f}%")
            if "ppo_fraction_of_bare" in row:
                parts.append(f"ppo/bare {100 * row['ppo_fraction_of_bare']:4.0f}%")
            compile_total = sum(row[f"{m}_compile_s"] for m in modes)
            print(f"{name:18s} envs={batch:4d}  " + "  ".join(parts) + f"  (compile {compile_total:.0f}s)", flush=True)
    meta = {
        "device": device_name(), "backend": jax.default_backend(), "jax": jax.__version__,
        "jaxil": getattr(jaxil, "__version__", None), "python": platform.python_version(),
        "cpu_count": os.cpu_count(), "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "date": datetime.date.today().isoformat(), "quick": args.quick, "steps": steps, "reps": reps,
        "min_rep_s": min_rep_s, "modes": list(modes),
        "wall_s": round(time.perf_counter() - start, 1), "notes": notes,
    }
    stem = write_report(rows, args.out, meta)
    for g in goals_of(rows):
        print(f"goal: {g['name']}: {g['measured']:+.3f} (target {g['target']}) {'met' if g['met'] else 'NOT met'}")
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
