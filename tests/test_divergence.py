"""A run that turns non-finite is flagged and held at its last finite state; the others go on."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typing import NamedTuple

from jaxil import loop, sweep


class Hp(NamedTuple):
    blowup_step: float  # the step whose update produces a NaN (< 0: never)


def toy_trainer() -> loop.Trainer:
    def init(key, demos, hp):
        return {"x": jnp.zeros(()), "t": jnp.zeros((), jnp.int32), "key": key}

    def step(state, demos, hp):
        bad = state["t"] == hp.blowup_step
        x = jnp.where(bad, jnp.nan, state["x"] + 1.0)
        return {**state, "x": x, "t": state["t"] + 1}, {"x": x}

    return loop.Trainer(init, step, lambda s: s["x"], None, 1)


def test_diverged_run_is_flagged_and_held_while_others_go_on():
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    hp = Hp(blowup_step=jnp.array([-1.0, 5.0, 9.0]))
    seen = []  # what on_chunk (progress, checkpoints) gets after every chunk
    with pytest.warns(RuntimeWarning, match="run 1 diverged"):
        result = loop.run(toy_trainer(), keys, hp, 12, chunk_steps=4,
                          on_chunk=lambda done, state, m: seen.append(np.asarray(state["x"])))
    # Checkpoints only ever see finite states: the diverged runs' last finite ones.
    np.testing.assert_array_equal(np.stack(seen), [[4.0, 4.0, 4.0], [8.0, 4.0, 8.0], [12.0, 4.0, 8.0]])
    # Run 1 breaks in the chunk of steps 4-8, run 2 in the chunk of steps 8-12.
    np.testing.assert_array_equal(result.diverged_at, [-1, 4, 8])
    assert result.diverged() == [{"run": 1, "step": 4}, {"run": 2, "step": 8}]
    # Run 0 is untouched; runs 1 and 2 keep the state they had at their last finite step.
    np.testing.assert_array_equal(np.asarray(result.state["x"]), [12.0, 4.0, 8.0])
    np.testing.assert_array_equal(np.asarray(result.state["t"]), [12, 4, 8])
    # The metrics still show what happened (NaN from the diverging step on).
    assert np.isnan(result.metrics["x"][1, 5]) and np.isfinite(result.metrics["x"][0]).all()


def test_finite_runs_checks_every_float_leaf():
    state = {"a": jnp.array([[1.0, 2.0], [jnp.inf, 0.0]]), "b": jnp.array([0, 1]), "c": jnp.array([jnp.nan, 1.0])}
    np.testing.assert_array_equal(np.asarray(loop.finite_runs(state)), [False, False])
    state["c"] = jnp.array([1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(loop.finite_runs(state)), [True, False])


def test_sweep_flags_diverged_seeds_and_checkpoints_their_last_finite_state(tmp_path):
    out = tmp_path / "sweep"
    with pytest.warns(RuntimeWarning, match="diverged"):
        res = sweep.sweep_job("bc", "cartpole", str(out), seeds=2, steps=4, demos="cartpole", num_trajectories=1,
                              grid=("lr=1e-3,1e30",), chunk_steps=1, checkpoint_every=1, quiet=True,
                              tensorboard=False)
    saved = json.loads((out / "results.json").read_text())
    # Runs are seed-major: run r = seed r // 2, setting r % 2; the lr=1e30 runs are 1 and 3.
    assert [d["run"] for d in saved["diverged"]] == [1, 3]
    assert [d["seed"] for d in saved["diverged"]] == [0, 1]
    assert all(0 <= d["step"] < 4 for d in saved["diverged"])
    assert np.isfinite(res.returns).all()  # evaluated with the last finite params
    assert (out / "checkpoints" / "batch-000").is_dir()
