"""Markdown report and plots of a benchmark-suite JSON (see :mod:`benchmarks.suite`).

    python -m benchmarks report benchmarks/results/<date>-<device>[-quick].json

writes ``<stem>.md`` beside the JSON and its plots into ``<stem>/``.
"""

from __future__ import annotations

import json
import os
from typing import Callable

from jaxil.fileio import write_atomic

NA = "-"


def save_json(stem: str, payload: dict, *, indent: int = 1, default: Callable | None = None) -> None:
    """Writes ``<stem>.json`` in one step (:func:`jaxil.fileio.write_atomic`), creating the
    folder: a write that fails leaves an earlier file of that name as it was. Benchmarks
    save their JSON before rendering the markdown, so a report that fails to render loses
    no measurement."""
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    write_atomic(stem + ".json", json.dumps(payload, indent=indent, default=default).encode())


def save_markdown(stem: str, md: str) -> str:
    """Writes ``<stem>.md`` in one step, ending in one newline; returns ``md``."""
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    write_atomic(stem + ".md", (md.rstrip("\n") + "\n").encode())
    return md


def result_stem(out: str, name: str, date: str, *parts: str, device: str | None = None) -> str:
    """``<out>/<name>-<date>-<device>[-<part>...]``: where a benchmark writes its results,
    without suffix. ``device`` defaults to :func:`device_name` (the card, not only the
    platform, so that results from two kinds of GPU never share a name); every empty piece (an
    empty part, or ``name``) is left out with its dash."""
    device = device_name() if device is None else device
    return os.path.join(out, "-".join(p for p in (name, date, device, *parts) if p))


def device_name() -> str:
    """The first JAX device's kind (``cpu``, ``nvidia-h100-80gb-hbm3``...), as result files name it."""
    import jax  # here, so that rendering a report from its JSON needs no JAX

    d = jax.devices()[0]
    return str(getattr(d, "device_kind", None) or d.platform).replace(" ", "-").lower()


def _f(v, spec=".2f", none=NA) -> str:
    return none if v is None else format(v, spec)


def _met(g: dict) -> str:
    return "**met**" if g["met"] else "not met"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---- plots --------------------------------------------------------------------------
# Each returns the file name it wrote (relative to the report), or None without data.


def plot_loop_efficiency(rows, out_dir, name="loop_efficiency.png"):
    rows = [r for r in rows if "skipped" not in r]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["bare_steps_per_s"] for r in rows], 0.4, label="bare rollout")
    ax.bar([i + 0.2 for i in x], [r["loop_steps_per_s"] for r in rows], 0.4, label="full training loop")
    for i, r in zip(x, rows):
        ax.annotate(f"{100 * r['efficiency']:.1f}%", (i + 0.2, r["loop_steps_per_s"]), ha="center", va="bottom",
                    fontsize=8)
    ax.set_xticks(list(x), [f"{r['env']}\n{r['algo']}\n{r['seeds']}x{r['num_envs']}" for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("env steps/s")
    ax.set_title(f"Loop efficiency ({', '.join(dict.fromkeys(r['env'] for r in rows))})", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def plot_seed_scaling(rows, device_rows, out_dir, name="scaling.png"):
    if not rows and not device_rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2 if device_rows else 1, figsize=(9 if device_rows else 5, 3.2), squeeze=False)
    ax = axes[0][0]
    for algo in dict.fromkeys(r["algo"] for r in rows):
        mine = [r for r in rows if r["algo"] == algo]
        seeds = [r["seeds"] for r in mine]
        ax.plot(seeds, [r["excluding_compile_s_per_seed"] for r in mine], "o-", label=f"{algo}, excl. compile")
        ax.plot(seeds, [r["end_to_end_s_per_seed"] for r in mine], "x--", label=f"{algo}, end to end")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("vmapped seeds")
    ax.set_ylabel("seconds per seed")
    ax.set_title("Per-seed cost vs seeds", fontsize=10)
    ax.legend(fontsize=7)
    if device_rows:
        ax = axes[0][1]
        ax.plot([r["devices"] for r in device_rows], [r["excluding_compile_s_per_seed"] for r in device_rows], "o-")
        ax.set_xlabel("devices")
        ax.set_ylabel("seconds per seed (excl. compile)")
        ax.set_title(f"Per-seed cost vs devices ({device_rows[0]['seeds']} seeds)", fontsize=10)
        ax.set_xticks([r["devices"] for r in device_rows])
    return _save(fig, out_dir, name)


def plot_compile_time(rows, out_dir, name="compile_time.png"):
    rows = [r for r in rows if "skipped" not in r]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    x = list(range(len(rows)))
    trace = [r["trace_s"] for r in rows]
    comp = [r["compile_s"] for r in rows]
    ax.bar(x, trace, 0.4, label="trace + lower")
    ax.bar(x, comp, 0.4, bottom=trace, label="XLA compile")
    ax.bar([i + 0.4 for i in x], [r["run_s"] for r in rows], 0.4, label="warm chunk run")
    ax.set_xticks([i + 0.2 for i in x], [f"{r['algo']}\n{r['seeds']} seeds" for r in rows], fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("Compile time vs run time of one chunk", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def plot_peers(peer_rows, out_dir, name="peers.png"):
    rows = [r for r in peer_rows if r.get("ratio") is not None]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    ax.bar(range(len(rows)), [r["ratio"] for r in rows])
    ax.axhline(100, color="k", ls="--", lw=1, label="100x")
    ax.set_xticks(range(len(rows)), [r["algo"] for r in rows], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("per-seed speedup vs imitation")
    ax.set_title("jaxil vs the imitation library (same task, one run)", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, name)


def plot_brax(rows, out_dir, name="brax.png"):
    rows = [r for r in rows if r.get("env_steps_per_s")]
    if not rows:
        return None
    plt = _plt()
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(4 * len(envs), 3.2), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for algo in dict.fromkeys(r["algo"] for r in rows if r["env"] == env):
            mine = [r for r in rows if r["env"] == env and r["algo"] == algo]
            ax.plot([r["seeds"] for r in mine], [r["env_steps_per_s"] for r in mine], "o-", label=algo)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("seeds")
        ax.set_ylabel("env steps/s (all seeds)")
        ax.set_title(env, fontsize=10)
        ax.legend(fontsize=7)
    return _save(fig, out_dir, name)


def _save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name


# ---- markdown ---------------------------------------------------------------------------


def peer_rows(sec: dict) -> list[dict]:
    """One summary row per compared algorithm (GAIL/AIRL from benchmarks.peers, BC, MCE IRL)."""
    rows = []
    for c in sec.get("comparisons", []):
        row = {"algo": c["algo"].upper(), "task": f"{c['env']}"}
        if "skipped" in c or not c.get("jaxil") or "per_seed_time_to_0.9_s" not in c["jaxil"][0]:
            rows.append({**row, "skipped": c.get("skipped", "a comparison of another shape (see the JSON)")})
            continue
        big = max(c["jaxil"], key=lambda r: r["seeds"])
        peer = c["imitation"]
        row.update(task=f"{c['env']}, {c['budget_env_steps']:,} env steps per seed, {c['trajectories']} trajectories",
                   jaxil_seeds=big["seeds"],
                   jaxil_time=_time_to(big), jaxil_final=big["final_normalized_mean"],
                   jaxil_rate=big["env_steps_per_s"], jaxil_wall=big["wall_s_end_to_end"])
        if "skipped" in peer:
            row["peer_skipped"] = peer["skipped"]
        else:
            row.update(peer_seeds=peer["seeds"], peer_time=_time_to(peer), peer_final=peer["final_normalized_mean"],
                       peer_rate=peer["env_steps_per_s"], peer_wall=peer["wall_s_end_to_end"],
                       ratio=big.get("speedup_time_to_0.9"),
                       ratio_kind=big.get("speedup_kind"))
        rows.append(row)
    bc = sec.get("bc")
    if bc:
        big = max(bc["jaxil"], key=lambda r: r["seeds"])
        row = {"algo": "BC", "task": f"cartpole, 10 trajectories, MLP {tuple(bc['hidden'])}, batch {bc['batch_size']}, "
                                     f"{bc['updates']} updates (throughput: updates/s per seed)",
               "jaxil_seeds": big["seeds"], "jaxil_time": f"{big['updates_per_s_per_seed']:,.0f} updates/s",
               "jaxil_final": None, "jaxil_rate": None, "jaxil_wall": big["compile_s"] + bc["updates"] /
               big["updates_per_s_per_seed"], "ratio": big.get("per_seed_speedup_vs_imitation"), "ratio_kind": "exact"}
        p = bc["imitation"]
        if p and "updates_per_s" in p:
            row.update(peer_seeds=1, peer_time=f"{p['updates_per_s']:,.0f} updates/s", peer_final=None,
                       peer_rate=None, peer_wall=bc["updates"] / p["updates_per_s"])
        else:
            row["peer_skipped"] = (p or {}).get("skipped", "not run")
        rows.append(row)
    mce = sec.get("mce_irl")
    if mce:
        for model in dict.fromkeys(r["model"] for r in mce["jaxil"]):
            big = max((r for r in mce["jaxil"] if r["model"] == model), key=lambda r: r["seeds"])
            row = {"algo": f"MCE IRL ({model})",
                   "task": f"cliff world 7x4, {mce['iters']} iterations per run (final L-inf to expert occupancy)",
                   "jaxil_seeds": big["seeds"], "jaxil_time": f"{big['warm_s_per_run']:.4f} s per run",
                   "jaxil_final": f"L-inf {big['final_linf_max_first_seeds']:.1e}", "jaxil_rate": None,
                   "jaxil_wall": big["first_call_s"], "ratio": big.get("speedup_warm"), "ratio_kind": "exact"}
            p = next((q for q in mce["imitation"] if q["model"] == model), {})
            if "s_per_run" in p:
                row.update(peer_seeds=p["runs"], peer_time=f"{p['s_per_run']:.3f} s per run",
                           peer_final=f"L-inf {p['final_linf_max']:.1e}", peer_rate=None,
                           peer_wall=p["s_per_run"] * p["runs"])
            else:
                row["peer_skipped"] = p.get("skipped", "not run")
            rows.append(row)
    return rows


def _time_to(r: dict) -> str:
    t = r["per_seed_time_to_0.9_s"]
    if t is not None:
        return f"{t:.2f} s"
    return f">= {r['per_seed_time_to_0.9_lower_bound_s']:.2f} s ({r['seeds_reaching_0.9']}/{r['seeds']} reached)"


def _num(v, spec):
    return v if isinstance(v, str) else _f(v, spec)


def _peer_table(rows: list[dict]) -> list[str]:
    lines = ["| algorithm | task | jaxil seeds | jaxil per seed | imitation per seed | per-seed speedup | "
             "final score jaxil / imitation | env steps/s jaxil / imitation | wall s end to end jaxil / imitation |",
             "|---|---|---:|---|---|---:|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['algo']} | {r['task']} | {NA} | {NA} | {NA} | {NA} | {NA} | {NA} | not measured: "
                         f"{r['skipped']} |")
            continue
        peer = "not installed" if "peer_skipped" in r else None
        ratio = NA if r.get("ratio") is None else \
            f"{'>= ' if str(r.get('ratio_kind', '')).startswith('lower') else ''}{r['ratio']:.1f}x"
        lines.append(
            f"| {r['algo']} | {r['task']} | {r['jaxil_seeds']} | {r['jaxil_time']} | {peer or r['peer_time']} | "
            f"{ratio} | {_num(r['jaxil_final'], '.2f')} / {peer or _num(r.get('peer_final'), '.2f')} | "
            f"{_num(r['jaxil_rate'], ',.0f')} / {peer or _num(r.get('peer_rate'), ',.0f')} | "
            f"{_f(r['jaxil_wall'], '.1f')} / {peer or _f(r.get('peer_wall'), '.1f')} |")
    skipped = sorted({r["peer_skipped"] for r in rows if "peer_skipped" in r})
    for s in skipped:
        lines += ["", f"imitation: {s}"]
    return lines


def markdown(result: dict, plots: dict) -> str:
    s = result["sections"]
    title = f"# jaxil benchmarks: {result['suite']} suite ({result['date']}, {result['device']})"
    lines = [title, "",
             f"`python -m benchmarks run --suite {result['suite']}` on {result['num_devices']} {result['backend']} "
             f"device(s) ({result['device']}), {result['cpu_count']} CPU cores, jax {result['jax']}, jaxil "
             f"{result['jaxil']}, Python {result['python']}. Wall time {result['wall_s'] / 60:.1f} min "
             + ("end to end. " if not result.get("rerun_sections") else
                f"(sum of the sections' times; {', '.join(result['rerun_sections'])} failed in the first run and "
                "ran again). ")
             + f"1-minute load average {result['load_avg_1m']['start']:.1f} at the start, "
             f"{result['load_avg_1m']['end']:.1f} at the end"
             + (" (the machine was shared with other work: absolute rates are noisy, ratios measured side by side "
                "are the result)." if result['load_avg_1m']['start'] > 0.5 * (result['cpu_count'] or 1) else ".")
             + f" The `imitation` library (peers extra) was {'installed' if result['peers_installed'] else 'absent'}.",
             "", "## Goals", "", "| goal | target | measured | met |", "|---|---|---:|---|"]
    for g in result["goals"]:
        extra = []
        if g.get("kind") and g["measured"] is not None:
            extra.append(g["kind"])
        if "jaxil_final" in g:
            extra.append(f"final score jaxil {g['jaxil_final']:.2f} vs imitation {g['imitation_final']:.2f}")
        if g.get("source"):
            extra.append(f"cited from [{os.path.basename(g['source'])}]({os.path.basename(g['source'])}), "
                         f"{g['measured_on']}")
        if g.get("devices", 1) > 1:
            extra.append(f"runs split over {g['devices']} devices as loop.run splits them"
                         + (f"; on one device {g['one_device_measured']:g}" if g.get("one_device_measured") is not None
                            else ""))
        if g.get("note"):
            extra.append(g["note"])
        measured = NA if g["measured"] is None else f"{g['measured']:g}"
        lines.append(f"| {g['name']} | {g['target']} | {measured}{' (' + '; '.join(extra) + ')' if extra else ''} | "
                     f"{_met(g)} |")
    lines.append("")

    def section(key, heading, body_fn, text=""):
        if key not in s:
            return
        lines.extend([f"## {heading}", ""])
        if text:
            lines.extend([text, ""])
        if "error" in s[key]:
            lines.extend([f"Section failed: `{s[key]['error']}`", ""])
            return
        lines.extend(body_fn(s[key]))
        if plots.get(key):
            lines.extend(["", f"![{heading}]({plots[key]})"])
        lines.extend(["", f"_Section time: {s[key]['wall_s']:.0f} s._", ""])

    from benchmarks import compile_time, loop_efficiency

    section("loop_efficiency", "Loop efficiency", lambda sec: loop_efficiency.markdown(sec["rows"]),
            "Env steps/s of the full training loop (`jaxil.loop.run`'s compiled chunk: rollouts, reward learning, "
            "policy updates; compilation excluded) / env steps/s of a bare `jit(vmap(scan(policy + env.step)))` "
            "rollout of the same env, the same number of parallel envs (seeds x envs per run) and a policy network "
            "of the trainer's own spec. The loop also learns, so 100% is out of reach. On cartpole an env step costs "
            "far less than the loop's gradient passes over it, so the ratio measures the learning's cost more than "
            "the loop's; on a Brax env (hopper) the physics step dominates, as in the loops jaxil is built for. "
            "Default settings of `jaxil train ALGO --env ENV` (Brax: the adversarial methods' Brax PPO settings).")
    section("env_overhead", "Env wrapper overhead", _env_rows,
            "jaxil's env wrappers (time limit, auto-reset keeping the final observation, terminated/truncated, "
            "episode stats) vs gymnax's own auto-resetting step, both with PPO's policy network; interleaved "
            "repetitions, median.")
    section("peers", "Peers: the imitation library, same task and budget, one run", _peers_body,
            "Per seed: jaxil's seeds run in one vmapped program (per seed = program time / seeds), the imitation "
            "library's one after another. GAIL / AIRL: wall time to 0.9 normalized, end to end including jaxil's "
            "compilation, evaluations excluded (`benchmarks/peers.py`). BC: gradient updates/s "
            "(`benchmarks/bc_throughput.py`). MCE IRL: seconds per 1000-iteration run, warm, with the end-to-end "
            "first call (compile + run) in the wall column (`benchmarks/mce_irl.py`).")
    section("seed_scaling", "Scaling with seeds", _scaling_body,
            "All seeds of a row in one `jit(vmap(scan))` program through `jaxil.loop.run`. End to end: a fresh run "
            "with tracing and compilation; excluding compilation: the same work with the programs compiled ahead "
            "of time. Speedup = per-seed time at 1 seed / per-seed time at N seeds.")
    if "device_scaling" in s:
        section("device_scaling", "Scaling with devices", _device_body)
    section("compile_time", "Compile time", lambda sec: compile_time.markdown(sec["rows"]),
            "Per algorithm: tracing + lowering and XLA compilation of the chunk program `jit(vmap(scan(step)))`, "
            "reported apart from the run time of one warm chunk; paid once per process and program shape.")
    section("brax", "Brax tasks", _brax_body,
            "PPO, GAIL, AIRL, ValueDICE on Brax locomotion at 1, 16, 256 seeds: env steps/s (all seeds, steady "
            "state, compilation and evaluation excluded) and wall time to 0.9 normalized (end to end with "
            "compilation, evaluation excluded).")
    return "\n".join(lines)


def _env_rows(sec):
    lines = ["| env | envs | bare steps/s | jaxil steps/s | overhead |", "|---|---:|---:|---:|---:|"]
    for r in sec["rows"]:
        lines.append(f"| {r['env']} | {r['batch']} | {r['bare_steps_per_s']:,.0f} | {r['jaxil_steps_per_s']:,.0f} | "
                     f"{100 * r['wrapper_overhead']:+.1f}% |")
    return lines


def _peers_body(sec):
    lines = _peer_table(peer_rows(sec)) + [""]
    for c in sec.get("comparisons", []):
        if "skipped" in c or not c.get("jaxil") or "seeds_reaching_0.9" not in c["jaxil"][0]:
            continue
        for r in c["jaxil"]:
            lines.append(f"- {c['algo'].upper()} jaxil x{r['seeds']}: seeds reaching 0.9 "
                         f"{r['seeds_reaching_0.9']}/{r['seeds']}, final normalized mean "
                         f"{r['final_normalized_mean']:.2f} (worst {r['final_normalized_worst']:.2f}).")
    return lines


def _scaling_body(sec):
    lines = []
    for algo, desc in sec.get("descriptions", {}).items():
        lines += [f"{algo}: {desc}", "",
                  "| seeds | end to end s | per seed s | speedup | compile s | excl. compile s | per seed s | speedup |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in (r for r in sec["rows"] if r["algo"] == algo):
            lines.append(f"| {r['seeds']} | {r['end_to_end_s']:.2f} | {r['end_to_end_s_per_seed']:.4f} | "
                         f"{_f(r['end_to_end_speedup'], '.1f')}x | {r['compile_s']:.2f} | "
                         f"{r['excluding_compile_s']:.2f} | {r['excluding_compile_s_per_seed']:.4f} | "
                         f"{_f(r['excluding_compile_speedup'], '.1f')}x |")
        lines.append("")
    return lines


def _device_body(sec):
    lines = [sec.get("how", "")]
    if not sec["rows"]:
        return lines + ["", "No rows: " + sec.get("reason", "fewer than two devices.")]
    lines += ["", "| algorithm | seeds | devices | excl. compile s | per seed s | speedup vs 1 device |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in sec["rows"]:
        lines.append(f"| {r['algo']} | {r['seeds']} | {r['devices']} | {r['excluding_compile_s']:.2f} | "
                     f"{r['excluding_compile_s_per_seed']:.4f} | {_f(r['speedup_vs_1_device'], '.2f')}x |")
    return lines


def _brax_body(sec):
    lines = ["| env | algorithm | seeds | env steps/s | seeds reaching 0.9 | per-seed wall time to 0.9 s | "
             "all seeds to 0.9 s | final normalized mean (worst) | compile s |",
             "|---|---|---:|---:|---|---:|---:|---|---:|"]
    for r in sec["rows"]:
        if "skipped" in r or "error" in r:
            lines.append(f"| {r['env']} | {r['algo']} | {r.get('seeds', NA)} | not measured: "
                         f"{r.get('skipped') or r.get('error')} | | | | | |")
            continue
        lines.append(f"| {r['env']} | {r['algo']} | {r['seeds']} | {_f(r['env_steps_per_s'], ',.0f')} | "
                     f"{r['seeds_reaching_0.9']}/{r['seeds']} | {_f(r['per_seed_time_to_0.9_s'], '.2f', 'never')} | "
                     f"{_f(r['all_seeds_time_to_0.9_s'], '.1f', 'never')} | {r['final_normalized_mean']:.2f} "
                     f"({r['final_normalized_worst']:.2f}) | {_f(r.get('compile_s'), '.1f')} |")
    for n in sec.get("notes", []):
        lines += ["", n]
    return lines


def write(result: dict, stem: str) -> str:
    """Writes ``<stem>.md`` and the plots under ``<stem>/``; returns the markdown path."""
    s = result["sections"]
    out_dir = stem
    rel = os.path.basename(stem)
    plots = {}

    def add(key, fn, *args):
        try:
            name = fn(*args, out_dir)
        except Exception as e:  # noqa: BLE001  (a plot must not lose the report)
            print(f"plot {key} failed: {e}")
            name = None
        if name:
            plots[key] = f"{rel}/{name}"

    if "error" not in s.get("loop_efficiency", {"error": 1}):
        add("loop_efficiency", plot_loop_efficiency, s["loop_efficiency"]["rows"])
    scaling = s.get("seed_scaling", {}).get("rows", [])
    devices = s.get("device_scaling", {}).get("rows", [])
    if scaling or devices:
        add("seed_scaling", plot_seed_scaling, scaling, devices)
    if s.get("compile_time", {}).get("rows"):
        add("compile_time", plot_compile_time, s["compile_time"]["rows"])
    if "peers" in s and "error" not in s["peers"]:
        add("peers", plot_peers, peer_rows(s["peers"]))
    if s.get("brax", {}).get("rows"):
        add("brax", plot_brax, s["brax"]["rows"])
    save_markdown(stem, markdown(result, plots))
    return stem + ".md"


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="markdown + plots from a suite JSON")
    p.add_argument("json")
    args = p.parse_args(argv)
    with open(args.json) as f:
        result = json.load(f)
    print("wrote", write(result, os.path.splitext(args.json)[0]))


if __name__ == "__main__":
    main()
