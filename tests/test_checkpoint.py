"""Checkpoints: full-state round trip, resume equals an uninterrupted run bitwise, kill -9
mid-run and resume, damaged or unfinished steps are never loaded."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from jaxil import envs, loop, sweep
from jaxil.algos import bc
from jaxil.checkpoint import Checkpointer
from jaxil.rl import ppo

BC_CONFIG = bc.Config(hidden=(16,), batch_size=32, updates_per_step=5)


def _assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _abstract(state):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


def _metric_abstract(runs):
    def f(steps_done, saved):
        return {k: jax.ShapeDtypeStruct((runs, steps_done), m.dtype) for k, m in saved.items()}

    return f


def test_ppo_state_resumes_bitwise(tmp_path):
    """The whole PPO state (params, Adam state, batched env states, keys, counter) goes
    through a checkpoint; resuming after 2 of 4 steps gives the uninterrupted run's bits."""
    env = envs.make("cartpole")
    trainer = ppo.make_train(ppo.Config(num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1, hidden=(8,)), env)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    hp = loop.broadcast_hparams(ppo.Hparams(), 2)
    full = loop.run(trainer, keys, hp, 4, chunk_steps=1)

    ckpt = Checkpointer(str(tmp_path / "ck"), chunk_steps=1, every=2, keep=5, fingerprint={"run": "ppo"})
    ckpt.start(None)
    first = loop.run(trainer, keys, hp, 2, chunk_steps=1, on_chunk=ckpt.on_chunk)
    ckpt.close()
    assert Checkpointer(str(tmp_path / "ck"), 1, fingerprint={"run": "ppo"}).steps() == [2]

    again = Checkpointer(str(tmp_path / "ck"), 1, fingerprint={"run": "ppo"})
    restored = again.restore_latest(_abstract(first.state), _metric_abstract(2))
    assert restored.steps_done == 2 and restored.meta["chunk"] == 2
    _assert_trees_equal(restored.state, first.state)
    resumed = loop.run(trainer, keys, hp, 4, chunk_steps=1, start_state=restored.state, start_step=2,
                       start_metrics=restored.metrics)
    _assert_trees_equal(resumed.state, full.state)
    _assert_trees_equal(resumed.metrics, full.metrics)

    with pytest.raises(ValueError, match="different run"):
        Checkpointer(str(tmp_path / "ck"), 1, fingerprint={"run": "other"}).restore_latest(
            _abstract(first.state), _metric_abstract(2))


def test_keeps_last_n_and_skips_damaged_or_unfinished_steps(tmp_path):
    state = {"w": np.arange(6.0, dtype=np.float32).reshape(2, 3), "step": np.zeros(2, np.int32)}
    ck = Checkpointer(str(tmp_path), chunk_steps=1, every=1, keep=2)
    ck.start(None)
    for done in range(1, 5):
        state = {"w": state["w"] + 1, "step": state["step"] + 1}
        ck.on_chunk(done, state, {"loss": np.full((2, 1), float(done), np.float32)})
    ck.close()
    assert Checkpointer(str(tmp_path), 1).steps() == [3, 4]  # max_to_keep

    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    latest = Checkpointer(str(tmp_path), 1).restore_latest(abstract, _metric_abstract(2))
    assert latest.steps_done == 4 and np.asarray(latest.state["step"]).tolist() == [4, 4]
    np.testing.assert_array_equal(latest.metrics["loss"], [[1, 2, 3, 4]] * 2)

    # A save that was cut off lives in a temporary directory orbax never lists.
    shutil.copytree(tmp_path / "4", tmp_path / "5.orbax-checkpoint-tmp-1234")
    assert Checkpointer(str(tmp_path), 1).steps() == [3, 4]

    # Damage the newest complete step: the previous one is loaded instead.
    for root, _, files in os.walk(tmp_path / "4" / "state"):
        for f in files:
            os.remove(os.path.join(root, f))
    with pytest.warns(UserWarning, match="step 4 .* does not load"):
        restored = Checkpointer(str(tmp_path), 1).restore_latest(abstract, _metric_abstract(2))
    assert restored.steps_done == 3 and np.asarray(restored.state["step"]).tolist() == [3, 3]


def test_bad_arguments():
    with pytest.raises(ValueError, match="every and keep must be >= 1"):
        Checkpointer("/nonexistent-unused", 1, every=0)
    env = envs.make("cartpole")
    trainer = ppo.make_train(ppo.Config(num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1), env)
    with pytest.raises(ValueError, match="needs a start_state"):
        loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 1), ppo.Hparams(), 4, chunk_steps=2, start_step=2)


SCRIPT = """
import sys, time
import jaxil
from jaxil import sweep
from jaxil.algos import bc

out, steps = sys.argv[1], int(sys.argv[2])
sweep.sweep_job("bc", "cartpole", out, seeds=2, steps=steps, demos="cartpole", num_trajectories=2,
                grid=["lr=1e-3,3e-3"], chunk_steps=1, checkpoint_every=1, keep_checkpoints=2, tensorboard=False,
                config=bc.Config(hidden=(16,), batch_size=32, updates_per_step=5), quiet=True,
                on_chunk=lambda *a: time.sleep(0.4))  # slow enough to be killed mid-run
"""


def _sweep(out, steps, **kw):
    return sweep.sweep_job("bc", "cartpole", str(out), seeds=2, steps=steps, demos="cartpole", num_trajectories=2,
                           grid=["lr=1e-3,3e-3"], chunk_steps=1, tensorboard=False, config=BC_CONFIG, quiet=True,
                           **kw)


def _complete_steps(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


def test_kill_9_mid_run_then_resume_matches_uninterrupted_bitwise(tmp_path):
    steps = 12
    out = tmp_path / "killed"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(steps)],
                            env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    ckdir = out / "checkpoints" / "batch-000"
    try:
        deadline = time.time() + 45
        while not _complete_steps(ckdir) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    at_kill = _complete_steps(ckdir)
    assert at_kill and max(at_kill) < steps, at_kill

    resumed = _sweep(out, steps, checkpoint_every=1, keep_checkpoints=2, resume=True)
    full = _sweep(tmp_path / "full", steps)
    _assert_trees_equal(resumed.policy_params, full.policy_params)
    _assert_trees_equal(resumed.metrics, full.metrics)
    np.testing.assert_array_equal(resumed.returns, full.returns)
    assert _complete_steps(ckdir)[-1] == steps and len(_complete_steps(ckdir)) <= 2
    with pytest.raises(ValueError, match="already holds checkpoints: pass --resume"):
        _sweep(out, steps, checkpoint_every=1)  # a fresh run never mixes with old checkpoints
