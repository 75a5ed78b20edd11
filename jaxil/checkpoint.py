"""Checkpoints of a batched training run between chunks (orbax).

A checkpoint is one orbax step directory holding the whole batched train state
(params, optimizer states, env states, buffers, keys, step counters), the metrics
history so far (``name -> [runs, steps_done]``) and a small JSON record (steps done,
chunk index, and a fingerprint of the run so a resume cannot pick up another run's
files). Orbax writes every step into a temporary directory and renames it when
complete, so a process killed mid-save leaves no step that looks finished; a step
that still fails to load (a file lost or damaged later) is skipped with a warning and
the previous one is used.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxil.errors import InputError


class Restored(NamedTuple):
    steps_done: int
    state: Any
    metrics: dict  # name -> [runs, steps_done]
    meta: dict


class Checkpointer:
    """Saves every ``every`` chunks into ``directory`` and keeps the last ``keep`` steps.

    ``fingerprint`` (any JSON-able value) is stored with every step and must match
    on restore. Use :meth:`on_chunk` as (part of) ``loop.run``'s ``on_chunk``: it
    accumulates the metrics history and saves when due; :meth:`save` with
    ``force=True`` saves regardless of ``every`` (e.g. the final state).
    """

    def __init__(self, directory: str, chunk_steps: int, every: int = 1, keep: int = 3,
                 fingerprint: Any = None, prepare: Callable[[Any], Any] | None = None):
        if every < 1 or keep < 1:
            raise InputError(f"checkpoint every and keep must be >= 1, got every={every}, keep={keep}")
        self.directory = os.path.abspath(directory)
        self.chunk_steps, self.every, self.fingerprint = chunk_steps, every, fingerprint
        # ``prepare`` maps the state/metrics tree to what is written, e.g. host-local
        # arrays to global ones on several processes.
        self.prepare = prepare or (lambda tree: tree)
        os.makedirs(self.directory, exist_ok=True)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=jax.process_count() == 1,
                                               enable_async_checkpointing=True)
        handlers = {"state": ocp.StandardCheckpointHandler(), "history": ocp.StandardCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler()}
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)
        self.history: list[dict] = []

    # -- saving -------------------------------------------------------------------

    def start(self, metrics: dict | None) -> None:
        """Sets the history a resumed run starts from (``None``: a fresh run)."""
        self.history = [] if not metrics else [dict(metrics)]

    def metrics(self) -> dict:
        if not self.history:
            return {}
        return {k: np.concatenate([np.asarray(h[k]) for h in self.history], axis=1) for k in self.history[0]}

    def on_chunk(self, done: int, state, chunk_metrics: dict) -> None:
        self.history.append(jax.tree.map(np.asarray, chunk_metrics))
        if (done // self.chunk_steps) % self.every == 0:
            self.save(done, state)

    def save(self, done: int, state, force: bool = False) -> None:
        if done in self.manager.all_steps():
            return
        meta = {"steps_done": int(done), "chunk": int(done // self.chunk_steps), "chunk_steps": self.chunk_steps,
                "fingerprint": self.fingerprint}
        tree = self.prepare({"state": state, "metrics": self.metrics()})
        # "metrics" is an item name orbax reserves for its own use; the history is "history".
        self.manager.save(done, args=ocp.args.Composite(state=ocp.args.StandardSave(tree["state"]),
                                                        history=ocp.args.StandardSave(tree["metrics"]),
                                                        meta=ocp.args.JsonSave(meta)), force=force)

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    # -- restoring ----------------------------------------------------------------

    def steps(self) -> list[int]:
        """Completed steps on disk, oldest first (orbax ignores unfinished temporary dirs)."""
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def restore_latest(self, abstract_state, metric_abstract: Callable[[int, Any], Any]) -> Restored | None:
        """The newest step that loads and belongs to this run, or ``None`` if there is none.

        ``abstract_state`` is the state's tree of ``jax.ShapeDtypeStruct`` (with the
        shardings to restore onto); ``metric_abstract(steps_done, saved_metadata)`` gives
        the metrics tree's. Steps that fail to load are skipped with a warning.
        """
        for step in reversed(self.steps()):
            try:
                return self._restore(step, abstract_state, metric_abstract)
            except _Mismatch:
                raise
            except Exception as e:  # a damaged step: fall back to the one before
                warnings.warn(f"checkpoint step {step} in {self.directory} does not load ({type(e).__name__}: "
                              f"{str(e)[:200]}); trying the previous one", stacklevel=2)
        return None

    def _restore(self, step: int, abstract_state, metric_abstract) -> Restored:
        meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
        if meta.get("fingerprint") != _roundtrip(self.fingerprint) or meta.get("chunk_steps") != self.chunk_steps:
            raise _Mismatch(f"checkpoints in {self.directory} belong to a different run (saved "
                            f"{meta.get('fingerprint')}, chunk_steps {meta.get('chunk_steps')}); "
                            f"use another output directory or delete them")
        saved = self.manager.item_metadata(step)
        history_meta = saved["history"] if saved is not None and "history" in saved else None
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            history=ocp.args.StandardRestore(metric_abstract(step, history_meta))))
        return Restored(step, restored.state, dict(restored.history or {}), meta)


class _Mismatch(InputError):
    pass


def _roundtrip(x):
    import json

    return json.loads(json.dumps(x))
