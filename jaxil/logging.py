"""Host-side logging between chunks: progress, per-seed metric CSV, learning-curve plot."""

from __future__ import annotations

import csv
import os
from typing import Mapping, Sequence

import numpy as np


def write_metrics_csv(path: str, metrics: Mapping[str, np.ndarray], env_steps_per_step: int,
                      runs: Mapping[str, Sequence] | None = None) -> None:
    """One row per (seed, step); ``metrics[name]`` has shape ``[seeds, steps]``.

    ``runs`` replaces the leading ``seed`` column by per-run columns (e.g. run index,
    seed index and the hyperparameters of a sweep), each a sequence over runs.
    """
    names = sorted(metrics)
    seeds, steps = np.asarray(metrics[names[0]]).shape[:2]
    runs = {"seed": range(seeds)} if runs is None else runs
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*runs, "step", "env_steps", *names])
        for s in range(seeds):
            lead = [runs[c][s] for c in runs]
            for t in range(steps):
                w.writerow([*lead, t, (t + 1) * env_steps_per_step, *(float(metrics[n][s, t]) for n in names)])


def smooth_nan(x: np.ndarray) -> np.ndarray:
    """Carries the last finite value forward along the last axis (episodes that did
    not end during a step report NaN)."""
    x = np.array(x, dtype=np.float64)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx]
        last = np.nan
        for t in range(row.shape[0]):
            if np.isfinite(row[t]):
                last = row[t]
            else:
                row[t] = last
    return x


def plot_curves(path: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], ylabel: str, title: str = "",
                xlabel: str = "env steps") -> None:
    """``curves[label] = (x [steps], y [seeds, steps])``: mean and 95% band across seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, y) in curves.items():
        y = smooth_nan(y)
        mean = np.nanmean(y, 0)
        half = 1.96 * np.nanstd(y, 0) / np.sqrt(max(y.shape[0], 1))
        ax.plot(x, mean, label=label)
        ax.fill_between(x, mean - half, mean + half, alpha=0.25)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def progress(label: str, num_steps: int, env_steps_per_step: int):
    """``on_chunk`` callback printing one line per chunk: steps, env steps/s, ETA,
    and the latest episode return across seeds. It runs on the host between chunks,
    so the compiled loop never pays for it."""
    import time

    start = time.perf_counter()

    def on_chunk(done, state, metrics):
        elapsed = time.perf_counter() - start
        ret_s = ""
        if "episode_return" in metrics:
            last = smooth_nan(metrics["episode_return"])[:, -1]
            if np.isfinite(last).any():
                ret_s = f"  return mean {np.nanmean(last):9.2f} worst {np.nanmin(last):9.2f}"
        if env_steps_per_step:
            rate = f"{done * env_steps_per_step / max(elapsed, 1e-9):9.0f} env-steps/s per seed"
        else:  # offline: no env steps, report trainer steps
            rate = f"{done / max(elapsed, 1e-9):9.1f} steps/s"
        eta = elapsed / done * (num_steps - done)
        print(f"[{label}] {done:6d}/{num_steps}  {rate}  eta {eta:5.0f}s{ret_s}", flush=True)

    return on_chunk


def write_run_outputs(out: str, label: str, metrics: Mapping[str, np.ndarray], env_steps_per_step: int) -> None:
    """metrics.csv and, where episode returns were logged, curve.png."""
    os.makedirs(out, exist_ok=True)
    write_metrics_csv(os.path.join(out, "metrics.csv"), metrics, env_steps_per_step)
    if "episode_return" in metrics:
        y = metrics["episode_return"]
        x = np.arange(1, y.shape[1] + 1) * env_steps_per_step
        plot_curves(os.path.join(out, "curve.png"), {label: (x, y)}, "episode return", label)


def print_score_table(title: str, rows: Mapping[str, tuple[np.ndarray, np.ndarray | None]]) -> None:
    """``rows[name] = (returns [seeds], normalized [seeds] or None)``: mean, worst, per seed."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("run", "seeds", "return mean", "return worst", "normalized mean", "normalized worst"):
        table.add_column(col, justify="right")
    for name, (ret, norm) in rows.items():
        ret = np.asarray(ret, dtype=float)
        n = ["-", "-"] if norm is None else [f"{np.mean(norm):.3f}", f"{np.min(norm):.3f}"]
        table.add_row(name, str(ret.size), f"{ret.mean():.2f}", f"{ret.min():.2f}", *n)
    console = Console()
    console.width = max(console.width, 100)  # not squeezed when output is piped
    console.print(table)


def _rate(done: int, elapsed: float, env_steps_per_step: int) -> str:
    if env_steps_per_step:
        return f"{done * env_steps_per_step / max(elapsed, 1e-9):,.0f} env-steps/s per run"
    return f"{done / max(elapsed, 1e-9):,.1f} steps/s"


class SweepProgress:
    """Rich progress bars for one batch of vmapped runs, one bar per group of runs
    (e.g. per hyperparameter setting, its seeds together), updated per chunk with
    env steps/s, ETA and the group's latest mean episode return.

    ``groups[label] = run indices`` into the batch; use as (part of) ``on_chunk``.
    Call :meth:`close` when the batch is done.
    """

    def __init__(self, groups: Mapping[str, Sequence[int]], num_steps: int, env_steps_per_step: int,
                 start_step: int = 0, console=None):
        import time

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.env_steps_per_step, self.start_step = env_steps_per_step, start_step
        self.start = time.perf_counter()
        self.groups = {k: np.asarray(v) for k, v in groups.items()}
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TextColumn("eta"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[ret]}"), console=console)
        self.tasks = {k: self.progress.add_task(k, total=num_steps, completed=start_step, rate="", ret="")
                      for k in self.groups}
        self.progress.start()

    def __call__(self, done, state, metrics) -> None:
        import time

        elapsed = time.perf_counter() - self.start
        rate = _rate(done - self.start_step, elapsed, self.env_steps_per_step)
        last = smooth_nan(metrics["episode_return"])[:, -1] if "episode_return" in metrics else None
        for label, idx in self.groups.items():
            ret = ""
            if last is not None and np.isfinite(last[idx]).any():
                ret = f"return {np.nanmean(last[idx]):.1f}"
            self.progress.update(self.tasks[label], completed=done, rate=rate, ret=ret)

    def close(self) -> None:
        self.progress.stop()


class TensorBoardRuns:
    """One tensorboardX event directory per run under ``logdir``, written per chunk.

    ``names[i]`` names run ``i`` of the batch (a sub-directory); scalars are logged
    against env steps (trainer steps for offline methods); NaN points are skipped.
    """

    def __init__(self, logdir: str, names: Sequence[str], env_steps_per_step: int):
        from tensorboardX import SummaryWriter

        self.per_step = max(env_steps_per_step, 1)
        self.writers = [SummaryWriter(os.path.join(logdir, n)) for n in names]

    def __call__(self, done, state, metrics) -> None:
        for name, values in metrics.items():
            values = np.asarray(values, dtype=np.float64)
            chunk = values.shape[1]
            for i, w in enumerate(self.writers):
                for t in range(chunk):
                    if np.isfinite(values[i, t]):
                        w.add_scalar(name, values[i, t], global_step=(done - chunk + t + 1) * self.per_step)
        for w in self.writers:
            w.flush()

    def close(self) -> None:
        for w in self.writers:
            w.close()


def chain(*callbacks):
    """One ``on_chunk`` that calls every non-None callback in order."""
    callbacks = [c for c in callbacks if c is not None]

    def on_chunk(done, state, metrics):
        for c in callbacks:
            c(done, state, metrics)

    return on_chunk
