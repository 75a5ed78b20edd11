import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs, eval as ev, experts, loop, policy as pol
from jaxil.algos import bc, dagger
from jaxil.envs import probes
from tests.batching import ALONE, check_run_is_independent_of_batch

W = 4
LINEAR = dict(hidden=(), normalize_obs=False, batch_size=64)


def _rope(horizon: int, episodes: int = 2):
    env = probes.tightrope(W, horizon)
    demos, _ = data.collect(env, probes.tightrope_expert(W), None, jax.random.PRNGKey(0), episodes)
    return env, data.to_jax(demos)


def _numpy_expert(obs: np.ndarray) -> np.ndarray:
    d = np.argmax(obs, -1) - W
    return (probes.STAY - np.sign(d)).astype(np.int32)


def test_beta_schedules():
    assert [float(dagger.beta("exponential", i, 0.5)) for i in range(4)] == [1.0, 0.5, 0.25, 0.125]
    assert [float(dagger.beta("learner_after_first", i, 0.5)) for i in range(3)] == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="unknown DAgger schedule"):
        dagger.Config(schedule="linear")


def test_buffer_holds_exactly_the_relabelled_states():
    env, demos = _rope(horizon=10)
    cfg = dagger.Config(**LINEAR, initial_updates=5, updates_per_round=5, num_envs=3, num_rounds=2)
    expert = dagger.Expert(probes.tightrope_expert(W))
    trainer = dagger.make_train(cfg, env, expert)
    hp = dagger.Hparams(learner_eps=0.5)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(1), demos, hp)
    n, per = demos.obs.shape[0], 30
    assert state.buffer.obs.shape[0] == n + 2 * per and float(state.buffer.mask.sum()) == n
    step = jax.jit(trainer.step)
    for r in range(1, 4):
        # Replay the round's rollout from the pre-round state: these are the states visited.
        _, k_roll, _ = jax.random.split(state.key, 3)
        visited, labels, _ = dagger.mixture_rollout(env, trainer.policy_spec, state.params, expert, 0.0, k_roll,
                                                     3, 10, learner_eps=0.5)
        state, metrics = step(state, demos, hp)
        slot = n + ((r - 1) % 2) * per
        buf = jax.tree.map(np.asarray, state.buffer)
        np.testing.assert_array_equal(buf.obs[slot:slot + per], visited)
        np.testing.assert_array_equal(buf.action[slot:slot + per], _numpy_expert(np.asarray(visited)))
        np.testing.assert_array_equal(buf.obs[:n], demos.obs)  # the demos are never overwritten
        assert buf.mask.sum() == n + min(r, 2) * per == metrics["buffer_size"]
    off_rope = np.argmax(buf.obs[n:], -1) != W
    assert off_rope.any()  # with learner_eps the learner leaves the rope, and those states get labels


def test_dagger_beats_bc_where_bc_drifts():
    """Tightrope: same per-step error for both; BC never learns the way back (cost ~ eps T^2 / 2)."""
    horizon, eps = 64, 0.01
    env, demos = _rope(horizon)
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    tb = bc.make_train(bc.Config(**LINEAR, updates_per_step=50), env)
    rb = loop.run(tb, keys, bc.Hparams(lr=1e-2), 10, demos=demos)
    cfg = dagger.Config(**LINEAR, initial_updates=500, updates_per_round=200, num_envs=16, num_rounds=4)
    td = dagger.make_train(cfg, env, dagger.Expert(probes.tightrope_expert(W)))
    rd = loop.run(td, keys, dagger.Hparams(lr=1e-2, learner_eps=0.1), 4, demos=demos)

    def cost(trainer, states):
        act = ev.with_random_actions(pol.make_act(trainer.policy_spec), env.spec, eps)
        fn = jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, 2048).mean())
        return -np.asarray(jax.jit(fn)(jax.vmap(trainer.policy)(states), jax.random.split(keys[0], 4)))

    err = eps * 2 / 3  # a random action is a wrong one 2 times in 3
    bc_cost, dagger_cost = cost(tb, rb.state), cost(td, rd.state)
    # Theory for these settings: BC ~ err T^2 / 2 = 13.7 (less the saturation), DAgger ~ err T = 0.43.
    assert bc_cost.min() > 0.5 * err * horizon**2 / 2, bc_cost
    assert dagger_cost.max() < 1.5 * err * horizon, dagger_cost


@ALONE
def test_vmapped_dagger_equals_single_runs(alone):
    env, demos = _rope(horizon=12)
    cfg = dagger.Config(**LINEAR, initial_updates=10, updates_per_round=10, num_envs=2, num_rounds=2)
    trainer = dagger.make_train(cfg, env, dagger.Expert(probes.tightrope_expert(W)))
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    hp = dagger.Hparams(learner_eps=jnp.array([0.1, 0.3, 0.2]))
    check_run_is_independent_of_batch(trainer, keys, hp, 2, alone=alone, demos=demos, rtol=1e-6)


def test_callback_expert_matches_jax_expert():
    env, demos = _rope(horizon=12)
    cfg = dagger.Config(**LINEAR, initial_updates=10, updates_per_round=10, num_envs=2, num_rounds=2)
    keys = jax.random.split(jax.random.PRNGKey(4), 2)
    hp = dagger.Hparams(learner_eps=0.3)
    runs = [loop.run(dagger.make_train(cfg, env, ex), keys, hp, 2, demos=demos)
            for ex in (dagger.Expert(probes.tightrope_expert(W)), dagger.callback_expert(_numpy_expert, env.spec))]
    for a, b in zip(jax.tree.leaves(runs[0].state), jax.tree.leaves(runs[1].state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_host_dagger_with_callback_and_label_files(tmp_path):
    env, demos = _rope(horizon=10)
    cfg = dagger.Config(**LINEAR, initial_updates=20, updates_per_round=20, num_envs=2, num_rounds=3)
    host = dagger.HostDAgger(cfg, env, demos, dagger.Hparams(lr=1e-2), key=jax.random.PRNGKey(0))
    history = host.run(_numpy_expert, rounds=1)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    path = str(tmp_path / "queries.npz")
    host.save_queries(path)
    with np.load(path) as f:
        obs = f["obs"]
    before = jax.tree.map(np.asarray, host.state.buffer)
    bad = str(tmp_path / "bad.npz")
    np.savez(bad, obs=obs, action=np.full(len(obs), 7, np.int32))
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        host.load_labels(bad)
    np.savez(bad, obs=obs, action=np.zeros((3,), np.int32))
    with pytest.raises(ValueError, match="expected actions of shape"):
        host.load_labels(bad)
    with pytest.raises(ValueError, match="cannot read DAgger labels"):
        host.load_labels(str(tmp_path / "missing.npz"))
    after = jax.tree.map(np.asarray, host.state.buffer)
    for a, b in zip(before, after):  # nothing half-written by the refused labels
        np.testing.assert_array_equal(a, b)
    good = str(tmp_path / "labels.npz")
    np.savez(good, obs=obs, action=_numpy_expert(obs))
    host.load_labels(good)
    host.train()
    buf = jax.tree.map(np.asarray, host.state.buffer)
    n = demos.obs.shape[0]
    np.testing.assert_array_equal(buf.obs[n + 20:n + 40], obs)
    assert buf.mask.sum() == n + 40 and int(host.state.round) == 2


@pytest.mark.slow  # the drift case below is the suite's DAgger learning test
def test_cartpole_dagger_from_one_trajectory_by_round_5():
    env = envs.make("cartpole")
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), env)
    spec, params = experts.load_expert("cartpole", env)
    trainer = dagger.make_train(dagger.Config(num_rounds=5), env, dagger.policy_expert(spec, params))
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    run = loop.run(trainer, keys, dagger.Hparams(), 5, demos=data.to_jax(data.select_trajectories(d, 1)))
    returns = experts.evaluate_seeds(env, trainer, run.state, jax.random.PRNGKey(1)).mean(1)
    norm = experts.normalize("cartpole", returns)
    assert norm.min() >= 0.95, norm


def test_expert_from_another_env_is_refused():
    with pytest.raises(data.DemosError, match="recorded on 'pendulum'"):
        experts.load_expert("pendulum", envs.make("cartpole"))
