"""Absorbing states and the shared off-policy data plumbing (jaxil.algos.offpolicy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs, eval as ev, policy as pol
from jaxil.algos import offpolicy as op
from jaxil.rl import replay
from jaxil.types import Transition

ABSORBING = [0.0, 0.0, 1.0]


def tiny_demos():
    """Two episodes on a 2-D state: episode 0 terminates at its 2nd step, episode 1 is truncated
    at its 2nd step; the last row is padding copied from a terminating row."""
    obs = [[1, 1], [2, 2], [3, 3], [4, 4], [2, 2]]
    next_obs = [[2, 2], [9, 9], [4, 4], [5, 5], [9, 9]]
    return data.make_demos(obs, [[0.1], [0.2], [0.3], [0.4], [0.2]], next_obs, [1, 2, 3, 4, 2],
                           [False, True, False, False, True], [False, False, False, True, False], [0, 0, 1, 1, 0],
                           mask=[1, 1, 1, 1, 0])


def test_absorbing_states_added_exactly_at_terminations():
    out = jax.jit(op.absorbing_demos)(data.to_jax(tiny_demos()))
    assert out.obs.shape == (10, 3) and out.mask.shape == (10,)
    # First half: the transitions, obs with indicator 0, next_obs absorbing only where terminated.
    np.testing.assert_array_equal(out.obs[:5], [[1, 1, 0], [2, 2, 0], [3, 3, 0], [4, 4, 0], [2, 2, 0]])
    np.testing.assert_array_equal(out.next_obs[:5], [[2, 2, 0], ABSORBING, [4, 4, 0], [5, 5, 0], ABSORBING])
    np.testing.assert_array_equal(out.mask[:5], [1, 1, 1, 1, 0])
    # Second half: absorbing -> absorbing, real only for the real terminated row 1 (not the
    # truncated row 3, not the terminated padding row 4).
    np.testing.assert_array_equal(out.mask[5:], [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(out.obs[6], ABSORBING)
    np.testing.assert_array_equal(out.next_obs[6], ABSORBING)
    np.testing.assert_array_equal(out.action[6], [0.0])
    assert float(out.reward[6]) == 0.0 and int(out.episode[6]) == 0
    # The augmented MDP never terminates; the time limit flag stays where it was.
    assert not np.asarray(out.terminated).any()
    np.testing.assert_array_equal(out.truncated, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(out.reward[:5], [1, 2, 3, 4, 2])


def test_prepare_without_absorbing_keeps_the_transitions():
    d = data.to_jax(tiny_demos())
    rows, mask = op.prepare(d, absorbing=False)
    np.testing.assert_array_equal(rows.next_obs, d.next_obs)
    np.testing.assert_array_equal(rows.terminated, d.terminated)  # 1 - terminated cuts the bootstrap
    np.testing.assert_array_equal(mask, d.mask)


def test_absorbing_vmaps_over_stacked_demos():
    d = tiny_demos()
    stacked = data.to_jax(data.stack_subsets(d, (1, 2)))  # episode 0 alone; both episodes
    out = jax.vmap(op.absorbing_demos)(stacked)
    assert out.obs.shape == (2, 8, 3)
    np.testing.assert_array_equal(out.mask, [[1, 1, 0, 0, 0, 1, 0, 0], [1, 1, 1, 1, 0, 1, 0, 0]])


def test_absorbing_action_features_are_zero():
    obs = jnp.array([[0.5, 0.0], [0.0, 1.0]])  # an env state, then the absorbing state (1-D env)
    x = op.state_action_input(obs, jnp.array([[0.3, -1.0], [0.3, -1.0]]), absorbing=True)
    np.testing.assert_allclose(x, [[0.5, 0.0, 0.3, -1.0], [0.0, 1.0, 0.0, 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(op.env_obs(obs, True), [[0.5], [0.0]])


def test_action_features():
    pend = envs.make("pendulum").spec  # bounds [-2, 2] map to [-1, 1]
    np.testing.assert_allclose(op.action_features(pend, jnp.array([[-2.0], [0.0], [1.0]])), [[-1], [0], [0.5]])
    cart = envs.make("cartpole").spec
    np.testing.assert_array_equal(op.action_features(cart, jnp.array([1, 0])), [[0, 1], [1, 0]])


# ---- buffers and sampling ---------------------------------------------------------------

def _rows(values):
    v = jnp.asarray(values, jnp.float32)
    return Transition(v[:, None], v, v[:, None], v, v < 0, v > 100)


def test_policy_terms_average_over_env_states_only():
    # rows 1 and 3 are the absorbing state (indicator 1): the mean is over rows 0 and 2
    obs = jnp.array([[0.5, 0.0], [0.0, 1.0], [0.2, 0.0], [0.0, 1.0]])
    values = jnp.array([1.0, 2.0, 3.0, 4.0])
    assert float(op.mean_over_env_states(values, obs, True)) == 2.0
    assert float(op.mean_over_env_states(values, obs, False)) == 2.5  # no indicator column: every row
    assert float(op.mean_over_env_states(values, obs.at[:, -1].set(1.0), True)) == 0.0  # none: no term
    grad = jax.grad(lambda v: op.mean_over_env_states(v, obs, True))(values)
    np.testing.assert_array_equal(grad, [0.5, 0.0, 0.5, 0.0])  # absorbing rows get no gradient


def test_masked_buffer_write_is_contiguous_and_wraps():
    buf = replay.buffer_init(jax.tree.map(lambda x: x[0], _rows([0.0])), capacity=5)
    buf = op.buffer_add_where(buf, _rows([1, 2, 3, 4]), jnp.array([True, False, True, True]))
    np.testing.assert_array_equal(buf.data.reward, [1, 3, 4, 0, 0])
    assert (int(buf.ptr), int(buf.size)) == (3, 3)
    buf = op.buffer_add_where(buf, _rows([5, 6, 7, 8]), jnp.array([True, True, False, True]))
    np.testing.assert_array_equal(buf.data.reward, [8, 3, 4, 5, 6])  # 8 wrapped to slot 0
    assert (int(buf.ptr), int(buf.size)) == (1, 5)
    with pytest.raises(ValueError, match="cannot write 6 rows"):
        op.buffer_add_where(buf, _rows(np.arange(6.0)), jnp.ones(6, bool))


def test_sample_rows_never_draws_padding():
    d = data.to_jax(op.absorbing_demos(data.to_jax(tiny_demos())))
    batch = op.sample_rows(jax.random.PRNGKey(0), d.transitions(), d.mask, 2000)
    real = np.asarray(d.mask) == 1
    allowed = {tuple(r) for r in np.asarray(d.obs)[real]}
    assert {tuple(r) for r in np.asarray(batch.obs)} == allowed  # every real row, nothing else
    assert (np.asarray(batch.obs) == ABSORBING).all(-1).mean() == pytest.approx(1 / 5, abs=0.04)


def test_online_collection_adds_absorbing_rows_only_at_terminations():
    # Random cartpole actions end most episodes within ~20 steps; a 16-step limit truncates the rest.
    env = envs.make("cartpole", max_episode_steps=16)
    uniform = ev.random_act(env.spec)
    act = lambda obs, k: uniform(None, obs, k)

    @jax.jit
    def run(key):
        k_reset, k_roll = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(k_reset, 4))
        _, traj = op.collect(env, act, state, k_roll, 40)
        flat = op.flatten(traj.transition)
        buf = replay.buffer_init(op.example_row(env, True), 512)
        return flat, op.buffer_add_transitions(buf, flat, absorbing=True)

    flat, buf = run(jax.random.PRNGKey(3))
    term, trunc = np.asarray(flat.terminated), np.asarray(flat.truncated)
    assert term.sum() >= 2 and trunc.sum() >= 2  # both kinds of episode end occurred
    size = int(buf.size)
    assert size == 160 + term.sum()
    obs, next_obs = np.asarray(buf.data.obs)[:size], np.asarray(buf.data.next_obs)[:size]
    loops = obs[:, -1] == 1
    assert loops.sum() == term.sum() and (next_obs[loops, -1] == 1).all()
    enters = (obs[:, -1] == 0) & (next_obs[:, -1] == 1)
    assert enters.sum() == term.sum()  # every termination, and no truncation, enters the absorbing state
    np.testing.assert_array_equal(next_obs[~loops & ~enters, :-1], np.asarray(flat.next_obs)[~term])


def test_check_demos_errors():
    env = envs.make("pendulum")
    d = data.to_jax(tiny_demos())
    with pytest.raises(ValueError, match=r"demos.obs has 2 features per row, env 'pendulum' has 3"):
        op.check_demos(d, env, False, "ValueDICE")
    with pytest.raises(TypeError, match="offline ValueDICE needs demos=ExpertAndReplay"):
        op.check_demos(d, env, True, "ValueDICE")
    with pytest.raises(ValueError, match="num_envs, train_freq"):
        op.Config(num_updates=0)
    # one step writes num_envs x train_freq rows, twice that with an absorbing row per termination
    with pytest.raises(ValueError, match=r"buffer_size=32 cannot hold one step's 64 rows \(num_envs=4 x "
                                         r"train_freq=8 x 2 with absorbing rows\)"):
        op.Config(num_envs=4, train_freq=8, buffer_size=32)
    op.Config(num_envs=4, train_freq=8, buffer_size=32, absorbing=False)
    op.Config(num_envs=4, train_freq=8, buffer_size=32, offline=True)  # offline has no buffer


def test_episode_starts_of_expert_and_replay_data():
    d = data.to_jax(tiny_demos())
    obs, mask = op.episode_starts(op.ExpertAndReplay(d, d), absorbing=True)
    assert obs.shape == (10, 3)
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 0] * 2)  # rows 0 and 2 start episodes; row 4 is padding
    np.testing.assert_array_equal(obs[2], [3, 3, 0])
    cfg = op.Config(offline=True, initial_states="reset", batch_size=200)
    env = envs.make("pendulum")
    s0 = op.initial_obs(cfg, env, jax.random.PRNGKey(0), None, (obs, mask))
    assert {tuple(r) for r in np.asarray(s0)} == {(1, 1, 0), (3, 3, 0)}
    with pytest.raises(ValueError, match="unknown initial_states 'first'"):
        op.Config(initial_states="first")


def test_replay_initial_states_are_the_replay_batch_states():
    env = envs.make("pendulum")
    cfg = op.Config(initial_states="replay", batch_size=3)
    expert = Transition(jnp.zeros((3, 4)), jnp.zeros((3, 1)), jnp.zeros((3, 4)), jnp.zeros(3), jnp.zeros(3, bool),
                        jnp.zeros(3, bool))
    batch = expert._replace(obs=jnp.arange(12.0).reshape(3, 4))
    s0 = op.initial_obs(cfg, env, jax.random.PRNGKey(0), expert, None, batch)
    np.testing.assert_array_equal(s0, batch.obs)
    with pytest.raises(ValueError, match="initial_states='replay' needs replay data"):
        op.initial_obs(cfg, env, jax.random.PRNGKey(0), expert, None, None)


def test_behavior_noise_drives_the_env_with_the_noisy_deterministic_action():
    env = envs.make("pendulum")
    spec = pol.PolicySpec(env.spec, "tanh_gaussian", (8,), "relu")
    pi = spec.init(jax.random.PRNGKey(0))
    obs = jnp.tile(jnp.array([[0.5, -0.3, 1.0]]), (20_000, 1))
    key = jax.random.PRNGKey(1)
    # None: the policy's own samples, exactly as pol.sample draws them
    sampled = op.behavior_act(op.Config(), spec, pi, obs, key)
    np.testing.assert_array_equal(sampled, pol.sample(spec, pi, obs, key)[0])
    # 0: the deterministic action itself
    np.testing.assert_allclose(op.behavior_act(op.Config(behavior_noise=0.0), spec, pi, obs, key),
                               pol.mode(spec, pi, obs), rtol=1e-6)
    # sigma: mode + N(0, (sigma * half range)^2), inside the bounds (pendulum: half range 2)
    noisy = np.asarray(op.behavior_act(op.Config(behavior_noise=0.1), spec, pi, obs, key))
    mode = float(pol.mode(spec, pi, obs[:1])[0, 0])
    assert abs(mode) < 1.5  # far enough from the bounds that clipping is negligible
    assert noisy.min() >= -2 and noisy.max() <= 2
    assert noisy.mean() == pytest.approx(mode, abs=0.01)
    assert noisy.std() == pytest.approx(0.2, rel=0.03)
    with pytest.raises(ValueError, match="behavior_noise"):
        op.Config(behavior_noise=-0.1)


def test_expert_obs_norm_standardises_by_the_masked_expert_std_plus_obs_std_eps():
    env = envs.make("pendulum")
    obs = np.array([[1.0, 0.0, 0.5], [0.8, 0.6, -0.5], [0.6, 0.8, 1.5], [9.0, 9.0, 9.0]])
    mask = np.array([1.0, 1.0, 1.0, 0.0])  # the last row is padding: it must not count
    n = len(obs)
    demos = data.Demos(obs=jnp.asarray(obs, jnp.float32), action=jnp.zeros((n, 1)), next_obs=jnp.zeros((n, 3)),
                       reward=jnp.zeros(n), terminated=jnp.zeros(n, bool), truncated=jnp.zeros(n, bool),
                       episode=jnp.zeros(n, jnp.int32), mask=jnp.asarray(mask, jnp.float32))
    real = obs[:3]
    mean, std = real.mean(0), real.std(0)  # float64, population std
    x = np.array([[-1.0, 0.0, 4.0]])
    for eps in (1e-3, 0.25):
        norm = op.expert_obs_norm(op.Config(obs_std_eps=eps), env, demos)
        np.testing.assert_allclose(norm.mean, mean, rtol=1e-6)
        np.testing.assert_allclose(np.sqrt(norm.var), std + eps, rtol=1e-5)
        np.testing.assert_allclose(norm(jnp.asarray(x, jnp.float32), None), (x - mean) / (std + eps), rtol=1e-4)
    with pytest.raises(ValueError, match="obs_std_eps"):
        op.Config(obs_std_eps=0.0)
