"""benchmarks/peers.py bookkeeping: hit times, per-seed summaries, ratios, demo conversion (no training)."""

import numpy as np
import pytest

from benchmarks import peers


def _row(wall, final, hit, steps=None):
    return {"wall_s": wall, "final_normalized": final, "time_to_0.9_s": hit, "progress_to_0.9": steps}


def test_hit_clock_excludes_evaluation_and_keeps_first_hit():
    clock = peers.HitClock(3)
    clock.start -= 10.0  # 10 s of "training" so far
    clock.record(100, lambda: [0.95, 0.5, 0.1])
    clock.eval_s += 5.0  # an evaluation of 5 s more...
    clock.start -= 5.0 + 7.0  # ...and 7 s of training have passed
    clock.record(200, lambda: [0.2, 0.91, 0.3])
    assert clock.hit_steps == [100, 200, None]
    assert clock.hit_s[0] == pytest.approx(10.0, abs=0.5)
    assert clock.hit_s[1] == pytest.approx(17.0, abs=0.5)  # evaluation time is off the clock
    assert [c["env_steps"] for c in clock.curve] == [100, 200]


def test_summary_vmapped_program_divides_by_seeds_and_waits_for_last_seed():
    rows = [_row(40.0, 1.0, 20.0, 100), _row(40.0, 0.9, 32.0, 200)]
    s = peers._summary("jaxil", "gail", 2, 2, rows, 1000, {})
    assert s["wall_s_end_to_end"] == 40.0 and s["wall_s_per_seed"] == 20.0
    assert s["time_to_0.9_per_seed_s"] == [10.0, 16.0]
    assert s["per_seed_time_to_0.9_s"] == 16.0  # the batch is done when its last seed is
    assert s["env_steps_per_s"] == pytest.approx(2 * 1000 / 40.0)
    assert s["final_normalized_worst"] == 0.9


def test_summary_sequential_runs_and_lower_bound_when_a_seed_never_reaches():
    rows = [_row(100.0, 0.95, 60.0), _row(120.0, 0.4, None)]
    s = peers._summary("imitation", "gail", 2, 1, rows, 1000, {})
    assert s["wall_s_end_to_end"] == 220.0 and s["seeds_reaching_0.9"] == 1
    assert s["per_seed_time_to_0.9_s"] is None
    assert s["per_seed_time_to_0.9_lower_bound_s"] == pytest.approx((60.0 + 120.0) / 2)


def test_ratios_exact_and_lower_bound():
    jax_row = peers._summary("jaxil", "gail", 2, 2, [_row(10.0, 1.0, 4.0), _row(10.0, 1.0, 6.0)], 10, {})
    done = peers._summary("imitation", "gail", 1, 1, [_row(100.0, 0.95, 90.0)], 10, {})
    peers._ratios([jax_row], done)
    assert jax_row["speedup_time_to_0.9"] == pytest.approx(90.0 / 3.0) and jax_row["speedup_kind"] == "exact"
    assert jax_row["score_at_least_peer"]
    never = peers._summary("imitation", "gail", 1, 1, [_row(100.0, 0.3, None)], 10, {})
    peers._ratios([jax_row], never)
    assert jax_row["speedup_time_to_0.9"] == pytest.approx(100.0 / 3.0)
    assert jax_row["speedup_kind"].startswith("lower bound")
    goal = peers._goal([{"algo": "gail", "jaxil": [{**jax_row, "seeds": 16}], "imitation": never}])
    assert goal["met"] is False and goal["measured"]["gail"]["speedup"] == pytest.approx(100.0 / 3.0)


def test_shipped_demos_convert_to_imitation_trajectories():
    types = pytest.importorskip("imitation.data.types")
    _, _, demos_np, refs = peers.cartpole_demos(2)
    trajs = peers.imitation_trajectories(demos_np, types)
    assert len(trajs) == 2 and refs[1] == 500.0
    real = demos_np.mask == 1
    first = trajs[0]
    n = len(first.acts)
    np.testing.assert_array_equal(first.obs[:-1], demos_np.obs[real][:n])
    np.testing.assert_array_equal(first.obs[-1], demos_np.next_obs[real][n - 1])
    np.testing.assert_array_equal(first.acts, demos_np.action[real][:n])
    assert not first.terminal  # the expert's episodes end by the time limit


def test_dagger_peer_queries_the_same_expert_actions():
    """The stable-baselines3 wrapper the imitation library's DAgger queries answers with jaxil's
    shipped expert's deterministic actions, on the demos' states and on the wrapper's numpy path."""
    gym = pytest.importorskip("gymnasium")
    pytest.importorskip("stable_baselines3")
    import jax

    from jaxil import experts, policy as pol, runs

    env = runs.make_env("cartpole")
    probe = gym.make(peers.GYM_ENV)
    wrapped = peers._sb3_expert(env, probe.observation_space, probe.action_space)
    _, _, demos_np, _ = peers.cartpole_demos(2)
    obs = demos_np.obs[demos_np.mask == 1][:300].astype(np.float32)
    actions, _ = wrapped.predict(obs, deterministic=True)
    spec, params = experts.load_expert("cartpole", env)
    np.testing.assert_array_equal(actions, np.asarray(jax.jit(lambda o: pol.mode(spec, params, o))(obs)))
    np.testing.assert_array_equal(actions, demos_np.action[demos_np.mask == 1][:300])  # the demos are the expert's
