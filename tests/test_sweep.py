"""Sweeps: grid/random parsing, seed-major layout, batching, sharding over 8 devices,
two jax.distributed processes, the CLI end to end."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jaxil import cli, envs, runs, sweep
from jaxil.algos import bc
from jaxil.rl import ppo

BC_CONFIG = bc.Config(hidden=(16,), batch_size=32, updates_per_step=5)
TRAIN_KEYS = {"algo", "env", "num_seeds", "return", "normalized_return", "env_steps", "wall_s", "config", "hparams",
              "versions"}


def test_grid_and_random_parsing():
    hp = bc.Hparams()
    assert sweep.parse_grid(["lr=1e-3, 3e-3", "l2_coef=0,1e-4"], hp) == {"lr": [1e-3, 3e-3], "l2_coef": [0.0, 1e-4]}
    with pytest.raises(ValueError, match=r"has no field 'learning_rate'; valid fields: lr, ent_coef, l2_coef"):
        sweep.parse_grid(["learning_rate=1e-3"], hp)
    with pytest.raises(ValueError, match="empty list of values"):
        sweep.parse_grid(["lr="], hp)
    with pytest.raises(ValueError, match="cannot parse 'fast' as float"):
        sweep.parse_grid(["lr=1e-3,fast"], hp)
    with pytest.raises(ValueError, match="not a finite number"):
        sweep.parse_grid(["lr=nan"], hp)
    with pytest.raises(ValueError, match="expected NAME=v1,v2"):
        sweep.parse_grid(["lr"], hp)
    with pytest.raises(ValueError, match="given twice"):
        sweep.parse_grid(["lr=1", "lr=2"], hp)
    assert sweep.parse_random(["lr=loguniform:1e-4:1e-2"], hp) == {"lr": sweep.Draw("loguniform", 1e-4, 1e-2)}
    with pytest.raises(ValueError, match="DIST:LOW:HIGH"):
        sweep.parse_random(["lr=normal:0:1"], hp)
    with pytest.raises(ValueError, match="LOW > 0 for loguniform"):
        sweep.parse_random(["lr=loguniform:0:1"], hp)
    with pytest.raises(ValueError, match="has no field 'gamma'"):
        sweep.parse_random(["gamma=uniform:0.9:0.99"], hp)


def test_settings_product_draws_and_seed_major_order():
    base = ppo.Hparams()
    grid = sweep.parse_grid(["lr=1e-4,1e-3", "clip_eps=0.1,0.2,0.3"], base)
    draws = sweep.parse_random(["ent_coef=loguniform:1e-4:1e-2", "gamma=uniform:0.9:0.99"], base)
    settings = sweep.make_settings(base, grid, draws, 4, seed=3)
    assert len(settings) == 2 * 3 * 4
    assert [(s.lr, s.clip_eps) for s in settings[::4]] == [(1e-4, 0.1), (1e-4, 0.2), (1e-4, 0.3), (1e-3, 0.1),
                                                           (1e-3, 0.2), (1e-3, 0.3)]
    ent = np.array([s.ent_coef for s in settings])
    assert (ent >= 1e-4).all() and (ent <= 1e-2).all() and len(set(ent[:4])) == 4
    assert all(s.vf_coef == base.vf_coef for s in settings)
    assert settings == sweep.make_settings(base, grid, draws, 4, seed=3)  # reproducible
    with pytest.raises(ValueError, match="--random needs --num-draws"):
        sweep.make_settings(base, grid, draws, 0, 0)
    with pytest.raises(ValueError, match="--num-draws needs"):
        sweep.make_settings(base, grid, {}, 2, 0)
    seed_i, setting_i = sweep.run_indices(3, 2)
    assert seed_i.tolist() == [0, 0, 1, 1, 2, 2] and setting_i.tolist() == [0, 1, 0, 1, 0, 1]


def test_plan_batches_covers_every_run_once():
    for runs_, procs, devices, max_batch in [(6, 1, 8, None), (10, 1, 2, 3), (7, 3, 2, 2), (1, 2, 1, None)]:
        seen = []
        for p in range(procs):
            plan = sweep.plan_batches(runs_, procs, p, devices, max_batch)
            for pos, src, kept, real in zip(plan.positions, plan.sources, plan.kept, plan.real):
                assert len(pos) % devices == 0 and (max_batch is None or len(pos) <= -(-max_batch // devices) * devices)
                assert sorted(pos[kept].tolist()) == pos[kept].tolist()
                seen += src[real].tolist()
        assert sorted(seen) == list(range(runs_)), (runs_, procs, devices, max_batch)
    with pytest.raises(ValueError, match="--max-batch must be >= 1"):
        sweep.plan_batches(4, 1, 0, 1, 0)


def test_memory_estimate_compiles_one_run():
    env = envs.make("cartpole")
    trainer = bc.make_train(BC_CONFIG, env)
    demos, _ = runs.load_task_demos("cartpole", env, 2)
    assert sweep.estimate_max_batch(trainer, demos, bc.Hparams(), 1) is None  # CPU reports no memory stats
    small = sweep.estimate_max_batch(trainer, demos, bc.Hparams(), 1, free_bytes=10**6)
    large = sweep.estimate_max_batch(trainer, demos, bc.Hparams(), 1, free_bytes=10**9, num_devices=2)
    assert 1 <= small < large and large % 2 == 0


def _bc_sweep(out, **kw):
    kw = {"seeds": 2, "steps": 4, "demos": "cartpole", "num_trajectories": 2, "grid": ["lr=1e-3,3e-3,1e-2"],
          "chunk_steps": 2, "tensorboard": False, "config": BC_CONFIG, "quiet": True, **kw}
    return sweep.sweep_job("bc", "cartpole", str(out), **kw)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """2 seeds x 3 learning rates in one batch on this process's one device."""
    return _bc_sweep(tmp_path_factory.mktemp("whole"))


def _assert_close(a, b, tol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def test_cli_sweep_end_to_end(tmp_path):
    out = str(tmp_path / "sweep")
    cli.main(["sweep", "bc", "--env", "cartpole", "--demos", "cartpole", "--seeds", "4", "--grid", "lr=1e-3,3e-3",
              "--steps", "2", "--chunk-steps", "1", "--num-trajectories", "2", "--out", out])
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    assert TRAIN_KEYS <= set(res)
    assert res["num_seeds"] == 4 and res["num_runs"] == 8 and len(res["return"]) == 8
    assert len(res["normalized_return"]) == 8 and res["seed_index"] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [h["lr"] for h in res["hparams"]] == [1e-3, 3e-3] * 4 and res["run_order"].startswith("seed-major")
    for name in ("metrics.csv", "curve.png"):
        assert os.path.exists(os.path.join(out, name))
    assert len(os.listdir(os.path.join(out, "tensorboard"))) == 8
    with open(os.path.join(out, "metrics.csv")) as f:
        assert f.readline().startswith("run,seed,lr,step,env_steps")
    with pytest.raises(ValueError, match="valid fields: lr, ent_coef, l2_coef"):
        cli.main(["sweep", "bc", "--demos", "cartpole", "--grid", "gamma=0.9", "--steps", "1", "--out", out])


def test_batches_agree_with_one_batch(tmp_path, whole):
    batched = _bc_sweep(tmp_path / "batched", max_batch=3)
    assert json.load(open(tmp_path / "batched" / "results.json"))["batch_sizes"] == [3, 3]
    _assert_close(batched.policy_params, whole.policy_params, 0)
    _assert_close(batched.metrics, whole.metrics, 0)
    _assert_close(batched.returns, whole.returns, 0)


class _Captured(Exception):
    pass


def test_runs_get_the_keys_and_hparams_of_jaxil_train(tmp_path, monkeypatch):
    """Seed s of setting k trains like seed s of `jaxil train` with setting k's Hparams
    (the program is the same and vmapped runs are independent, see the batch test)."""
    calls = []

    def capture(trainer, keys, hparams, *args, **kwargs):
        calls.append((np.asarray(keys), jax.tree.map(np.asarray, hparams)))
        raise _Captured

    monkeypatch.setattr(sweep.loop, "run", capture)
    with pytest.raises(_Captured):
        _bc_sweep(tmp_path / "sweep", seeds=3)
    with pytest.raises(_Captured):
        runs.train_job("bc", "cartpole", str(tmp_path / "train"), seeds=3, steps=4, demos="cartpole",
                       num_trajectories=2, config=BC_CONFIG, hparams=bc.Hparams(lr=3e-3))
    (sweep_keys, sweep_hp), (train_keys, _) = calls
    np.testing.assert_array_equal(sweep_keys[1::3], train_keys)  # seed-major: setting 1 of every seed
    np.testing.assert_allclose(sweep_hp.lr, np.tile(np.float32([1e-3, 3e-3, 1e-2]), 3))


SCRIPT = """
import sys
import jaxil, jax, numpy as np
from jaxil import sweep
from jaxil.algos import bc

out, npz, devices = sys.argv[1], sys.argv[2], int(sys.argv[3])
extra = {}
if len(sys.argv) > 4:  # coordinator, process id: one of two processes
    sweep.init_distributed(sys.argv[4], 2, int(sys.argv[5]))
    extra = {"checkpoint_every": 1}  # 3 runs per process
assert len(jax.local_devices()) == devices, jax.local_devices()

def check_sharded(done, state, metrics):
    assert len(jax.tree.leaves(state)[0].sharding.device_set) == devices

r = sweep.sweep_job("bc", "cartpole", out, seeds=2, steps=4, demos="cartpole", num_trajectories=2,
                    grid=["lr=1e-3,3e-3,1e-2"], chunk_steps=2, tensorboard=False, quiet=True,
                    config=bc.Config(hidden=(16,), batch_size=32, updates_per_step=5), on_chunk=check_sharded,
                    **extra)
leaves = {f"p{i}": x for i, x in enumerate(jax.tree.leaves(r.policy_params))}
np.savez(npz, returns=r.returns, **{f"m_{k}": v for k, v in r.metrics.items()}, **leaves)
"""


def _subprocess_env(**extra):
    """This process's environment plus ``extra``; XLA_FLAGS are appended to this process's
    (the suite's compiler flags change float rounding, and the results are compared)."""
    if "XLA_FLAGS" in extra:
        extra["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + extra["XLA_FLAGS"]).strip()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **extra}
    env.pop("JAXIL_KEEP_XLA_FLAGS", None)
    return env


def _assert_matches(npz_path, single):
    got = np.load(npz_path)
    np.testing.assert_allclose(got["returns"], single.returns, rtol=1e-6)
    for k, v in single.metrics.items():
        np.testing.assert_allclose(got[f"m_{k}"], v, rtol=1e-6, atol=1e-6)
    for i, x in enumerate(jax.tree.leaves(single.policy_params)):
        np.testing.assert_allclose(got[f"p{i}"], x, rtol=1e-6, atol=1e-6)


def test_sharded_over_8_devices_equals_single_device(tmp_path, whole):
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "eight"), str(tmp_path / "eight.npz"), "8"],
                          env=_subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.load(open(tmp_path / "eight" / "results.json"))
    assert res["devices_per_process"] == 8 and res["batch_sizes"] == [8]  # 6 runs padded to 8
    _assert_matches(tmp_path / "eight.npz", whole)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_gather_into_one_results_json(tmp_path, whole):
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out, coordinator = tmp_path / "multi", f"localhost:{_free_port()}"
    # Two devices per process: each process shards its 3 runs (padded to 4) over its own devices.
    env = _subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [subprocess.Popen([sys.executable, str(script), str(out), str(tmp_path / f"p{i}.npz"), "2", coordinator,
                               str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    try:
        logs = [p.communicate(timeout=150)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(log[-2000:] for log in logs)
    res = json.load(open(out / "results.json"))
    assert res["num_processes"] == 2 and res["num_runs"] == 6 and res["batch_sizes"] == [4]
    np.testing.assert_allclose(res["return"], whole.returns, rtol=1e-6)
    np.testing.assert_allclose(res["normalized_return"], whole.normalized, rtol=1e-6)
    for i in range(2):  # every process holds the gathered results
        _assert_matches(tmp_path / f"p{i}.npz", whole)
    with open(out / "metrics.csv") as f:
        assert len(f.read().splitlines()) == 1 + 6 * 4
    # One checkpoint of all 6 runs per chunk, written by both processes together.
    assert sorted(int(d) for d in os.listdir(out / "checkpoints" / "batch-000") if d.isdigit()) == [2, 4]


LOOP_SCRIPT = """
import sys
import jaxil
count = jaxil.set_cpu_device_count(int(sys.argv[2]))
import jax, numpy as np
from jaxil import envs, loop
from jaxil.rl import ppo

assert count == len(jax.local_devices()) == int(sys.argv[2]), jax.local_devices()
trainer = ppo.make_train(ppo.Config(num_envs=2, num_steps=16, hidden=(16,)), envs.make("cartpole"))
seen = []
r = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 4), ppo.Hparams(), 4, chunk_steps=2,
             on_chunk=lambda done, state, m: seen.append(len(jax.tree.leaves(state)[0].sharding.device_set)))
np.savez(sys.argv[1], devices=seen, **{f"p{i}": x for i, x in enumerate(jax.tree.leaves(r.state))},
         **{f"m_{k}": v for k, v in r.metrics.items()})
"""


@pytest.mark.slow  # two fresh processes compile PPO; sharded runs equal one device's in the 8-device test above
def test_loop_run_splits_a_fresh_run_over_cpu_devices(tmp_path):
    """`jaxil.set_cpu_device_count(2)`: loop.run trains 4 seeds as 2 per device (each core
    its share), with the same results as one device."""
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(LOOP_SCRIPT))
    outs = {}
    for devices in (1, 2):
        outs[devices] = tmp_path / f"d{devices}.npz"
        proc = subprocess.run([sys.executable, str(script), str(outs[devices]), str(devices)], env=_subprocess_env(),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = np.load(outs[1]), np.load(outs[2])
    assert list(one["devices"]) == [1, 1] and list(two["devices"]) == [2, 2]
    for k in one.files:
        if k != "devices":
            np.testing.assert_allclose(two[k], one[k], rtol=1e-6, atol=1e-6, err_msg=k)


def test_set_cpu_device_count_refuses_a_bad_count_and_a_running_backend():
    """In this process the backend already runs, so the count cannot change any more, and a
    bad count is refused before that is even looked at."""
    import jaxil

    with pytest.raises(ValueError, match="positive int, got 0"):
        jaxil.set_cpu_device_count(0)
    jax.devices()  # the backend runs
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        with pytest.raises(RuntimeError, match=r"must come before JAX's first computation"):
            jaxil.set_cpu_device_count(2)
