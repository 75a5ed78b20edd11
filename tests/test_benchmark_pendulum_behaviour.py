"""benchmarks.valuedice_pendulum_behaviour's measures, on hand-made policies and states."""

import argparse
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import valuedice_pendulum_behaviour as pb
from jaxil import envs


def _obs(theta, omega):
    theta, omega = np.asarray(theta, np.float32), np.asarray(omega, np.float32)
    return np.stack([np.cos(theta), np.sin(theta), omega], -1)


def _pd(params, obs, key):
    """A symmetric balancing law: torque = -(2 sin theta + 0.5 theta_dot), clipped to the bounds."""
    return jnp.clip(-(2.0 * obs[..., 1:2] + 0.5 * obs[..., 2:3]), -2.0, 2.0)


def _push(params, obs, key):
    """Always -1: what a policy that copies a one-sided demo's torques does everywhere."""
    return -jnp.ones((*obs.shape[:-1], 1))


def test_angle_and_mirror_by_hand():
    obs = _obs([0.2, -1.0, 3.0], [0.5, -2.0, 0.0])
    np.testing.assert_allclose(pb.angle(obs), [0.2, -1.0, 3.0], atol=1e-6)
    back = np.asarray(pb.mirror(jnp.asarray(obs)))
    np.testing.assert_allclose(pb.angle(back), [-0.2, 1.0, -3.0], atol=1e-6)
    np.testing.assert_allclose(back[:, 2], [-0.5, 2.0, 0.0])
    np.testing.assert_allclose(back[:, 0], obs[:, 0])


def test_coverage_by_hand():
    demo = SimpleNamespace(obs=_obs([0.3, 0.1, 0.05], [-0.5, -0.2, 0.0]), action=np.array([[-1.0], [-0.2], [0.1]]))
    cov = pb.coverage(demo)
    np.testing.assert_allclose(cov["theta"], [0.05, 0.3], atol=1e-6)
    np.testing.assert_allclose(cov["theta_dot"], [-0.5, 0.0])
    np.testing.assert_allclose(cov["torque"], [-1.0, 0.1])
    assert cov["steps"] == 3 and cov["negative_torque_fraction"] == pytest.approx(2 / 3)


def test_tail_stats_by_hand():
    t = pb.TAIL
    held = np.tile(_obs([0.1], [0.0]), (t + 10, 1))  # upright for the whole tail
    offset = np.tile(_obs([0.4], [0.0]), (t + 10, 1))  # held still off upright
    spin = _obs(np.linspace(-3.0, 3.0, t + 10), np.full(t + 10, 6.0))  # going round
    spin[-1] = _obs([0.0], [6.0])[0]  # passes upright once: not balanced
    stats = pb.tail_stats(np.stack([held, offset, spin]))
    assert stats["balanced"] == pytest.approx(1 / 3)
    assert stats["tail_abs_theta"] == pytest.approx(0.4, rel=1e-5)  # the median of 0.1, 0.4 and ~1.5
    assert stats["tail_speed"] == pytest.approx(0.0)  # the median of 0, 0 and 6


def test_behaviour_tells_a_symmetric_controller_from_a_one_sided_one():
    env = envs.make("pendulum")
    # A one-sided "demo": states on the theta > 0 side with the PD law's torques, one of them
    # too small (0.02) to count on the mirrored side.
    obs = _obs([0.3, 0.2, 0.1, 0.004], [-0.5, -0.4, -0.2, 0.0])
    torque = np.asarray(_pd(None, jnp.asarray(obs), None))
    assert np.all(torque[:3, 0] < -0.05) and abs(torque[3, 0]) < 0.05
    demo = SimpleNamespace(obs=obs, action=torque)
    key = jax.random.PRNGKey(0)

    pd = pb.behaviour(env, _pd, None, demo, key, 4)
    assert pd["demo_corr"] == pytest.approx(1.0) and pd["demo_rmse"] == pytest.approx(0.0, abs=1e-6)
    assert pd["mirror_states"] == 3 and pd["mirror_right_sign"] == 1.0
    np.testing.assert_allclose(pd["mirror_mean_torque"], -torque[:3, 0].mean(), rtol=1e-5)

    push = pb.behaviour(env, _push, None, demo, key, 4)
    # every mirrored state wants a positive torque; -1 has the wrong sign at all three
    assert push["mirror_right_sign"] == 0.0 and push["mirror_mean_torque"] == pytest.approx(-1.0)
    assert np.isnan(push["demo_corr"])  # a constant torque has no correlation
    assert push["demo_rmse"] == pytest.approx(np.sqrt(np.mean((torque[:, 0] + 1.0) ** 2)), rel=1e-5)
    # a constant -1 cannot hold the pendulum upright (its equilibrium hangs near the bottom)
    assert push["balanced"] == 0.0
    assert 0.0 <= pd["balanced"] <= 1.0 and np.isfinite(pd["score"])


def test_with_mirror_image_appends_the_reflected_episode():
    from jaxil import data

    obs = _obs([0.3, 0.2], [-0.5, -0.4])
    nxt = _obs([0.2, 0.1], [-0.4, -0.3])
    demo = data.Demos(obs=obs, action=np.array([[-1.0], [-0.5]], np.float32), next_obs=nxt,
                      reward=np.array([-0.1, -0.05], np.float32), terminated=np.array([False, False]),
                      truncated=np.array([False, True]), episode=np.array([0, 0], np.int32),
                      mask=np.ones(2, np.float32))
    both = pb.with_mirror_image(demo)
    assert both.obs.shape == (4, 3) and both.action.shape == (4, 1)
    np.testing.assert_allclose(both.obs[:2], obs)
    np.testing.assert_allclose(pb.angle(both.obs[2:]), [-0.3, -0.2], atol=1e-6)
    np.testing.assert_allclose(pb.angle(both.next_obs[2:]), [-0.2, -0.1], atol=1e-6)
    np.testing.assert_allclose(both.obs[2:, 2], [0.5, 0.4])
    np.testing.assert_allclose(both.action[2:, 0], [1.0, 0.5])
    np.testing.assert_array_equal(both.episode, [0, 0, 1, 1])
    np.testing.assert_array_equal(both.truncated, [False, True, False, True])
    np.testing.assert_allclose(both.reward, [-0.1, -0.05, -0.1, -0.05])


def test_one_episode_takes_that_episode_alone():
    from jaxil import data

    n = 5
    demo = data.Demos(obs=np.arange(n * 3, dtype=np.float32).reshape(n, 3),
                      action=np.arange(n, dtype=np.float32)[:, None],
                      next_obs=np.zeros((n, 3), np.float32), reward=np.zeros(n, np.float32),
                      terminated=np.zeros(n, bool), truncated=np.array([0, 1, 0, 0, 1], bool),
                      episode=np.array([0, 0, 1, 1, 1], np.int32), mask=np.array([1, 1, 1, 1, 0], np.float32))
    one = pb.one_episode(demo, 1)
    np.testing.assert_allclose(one.action[:, 0], [2.0, 3.0])  # the padded row (mask 0) is dropped
    np.testing.assert_array_equal(one.episode, [0, 0])
    with pytest.raises(ValueError, match="--episode 7"):
        pb.one_episode(demo, 7)


def test_runs_pick_indices_among_the_seed_keys_and_refuse_the_rest():
    p = argparse.ArgumentParser()
    assert pb.run_indices(p, "", 3) == [0, 1, 2]
    assert pb.run_indices(p, "4,1", 8) == [4, 1]
    for runs, seeds in (("8", 8), ("-1", 8), ("1,1", 8), ("a", 8), ("", 0)):
        with pytest.raises(SystemExit):
            pb.run_indices(p, runs, seeds)


def test_saved_policies_are_the_trained_ones_and_are_examined_without_training(tmp_path, monkeypatch, capsys):
    """offline_imitation --save-policies writes each seed's policy as trained; the behaviour report's
    --policies reads them back (exactly) and examines them instead of training."""
    import json
    import os

    from benchmarks import offline_imitation as oi
    from jaxil import data, experts, loop, policy as pol
    from jaxil.algos import valuedice as vd

    env = envs.make("pendulum")
    demos, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    demo = data.select_trajectories(demos, 1)
    trainer = vd.make_train(vd.Config(num_envs=2, learning_starts=4, buffer_size=64, hidden=(8,), batch_size=8), env)
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 2), vd.Hparams(), 3, demos=data.to_jax(demo))
    folder = str(tmp_path / "policies" / "valuedice_online")
    run = {"method": "valuedice_online", "env": "pendulum", "trajectories": 1, "pick": None, "seeds": 2,
           "base_seed": 1}
    assert oi.save_policies(folder, trainer, res.state, np.array([0.25, 0.75]), run) == folder
    trained = jax.vmap(trainer.policy)(res.state)
    for i, score in enumerate((0.25, 0.75)):
        spec, params, meta = pol.load_policy(f"{folder}/seed{i}")
        meta.pop("spec")  # the policy's own, read into ``spec``
        assert spec == trainer.policy_spec and meta == {**run, "seed_index": i, "final_score": score}
        jax.tree.map(np.testing.assert_array_equal, params, experts.take_run(trained, i))

    def train(*a, **k):
        raise AssertionError("--policies must not train")

    monkeypatch.setattr(pb.loop, "run", train)
    out = tmp_path / "report"
    pb.main(["--policies", folder, "--runs", "1", "--episodes", "2", "--out", str(out), "--tag", "t"])
    (stored,) = [json.load(open(f)) for f in out.glob("*.json")]
    assert [r["policy"] for r in stored["rows"]] == ["seed 1", "shipped expert"]
    # seed 1's row is that seed's trained policy, on the run's trajectory, with the run's score beside it
    want = pb.behaviour(env, pol.make_act(trainer.policy_spec), experts.take_run(trained, 1), demo,
                        jax.random.PRNGKey(7), 2)
    assert stored["rows"][0] == {"policy": "seed 1", "saved_final_score": 0.75, **want}
    assert stored["meta"]["policies"] == os.path.join("..", "policies", "valuedice_online")  # from the report's folder
    assert stored["meta"]["run"] == run and stored["meta"]["wall_s"] is None and "config" not in stored["meta"]
    assert stored["meta"]["argv"][:2] == ["--policies", folder]
    text = next(out.glob("*.md")).read_text()
    assert "`valuedice_online`'s saved pendulum policies" in text and "its run's last score 0.75" in text
    # What trains or picks a trajectory, a seed that was not saved, a folder without policies,
    # another env's policy, policies of two runs: refused by name, and no report is written.
    for argv, says in ((["--seeds", "8"], "--seeds: --policies examines saved policies"),
                       (["--set", "actor_lr=1e-5", "--mirror"], "--mirror, --set: --policies"),
                       (["--pick", "3"], "--pick: --policies"),
                       (["--runs", "2"], "--runs '2': each index once, in 0..1")):
        with pytest.raises(SystemExit):
            pb.main(["--policies", folder, *argv, "--out", str(out)])
        assert says in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pb.main(["--policies", str(tmp_path), "--out", str(out)])
    assert "no seed<i>/ folders" in capsys.readouterr().err
    os.rename(f"{folder}/seed0", f"{folder}/seed2")  # seeds 1 and 2 saved: 0 is missing, not out of range
    with pytest.raises(SystemExit):
        pb.main(["--policies", folder, "--runs", "0", "--out", str(out)])
    assert "holds seeds [1, 2], not [0]" in capsys.readouterr().err
    oi.save_policies(folder, trainer, res.state, np.array([0.5, 0.5]), {**run, "base_seed": 0})  # another run
    with pytest.raises(SystemExit):
        pb.main(["--policies", folder, "--runs", "1,2", "--out", str(out)])
    assert "seed2 is from another run" in capsys.readouterr().err
    cartpole = pol.PolicySpec(envs.make("cartpole").spec, "categorical", (8,))
    pol.save_policy(f"{folder}/seed3", cartpole, cartpole.init(jax.random.PRNGKey(0)), run)
    with pytest.raises(SystemExit):
        pb.main(["--policies", folder, "--runs", "3", "--out", str(out)])
    assert "seed3 is a policy for 'cartpole', not pendulum" in capsys.readouterr().err
    assert len(list(out.glob("*.json"))) == 1


@pytest.mark.parametrize("item", ["actor_lr", "=1e-5"])
def test_a_set_without_field_and_value_is_refused_in_this_script_s_own_form(item, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(pb.loop, "run", lambda *a, **k: pytest.fail("refused input must not train"))
    with pytest.raises(SystemExit):
        pb.main(["--set", item, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert f"--set {item!r}: expected FIELD=VALUE" in err and "valuedice_online." not in err
    assert list(tmp_path.iterdir()) == []
