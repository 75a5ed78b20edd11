import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs


def rollout(env, action, n, key=0):
    state = env.reset(jax.random.PRNGKey(key))
    step = jax.jit(env.step)
    out = []
    for _ in range(n):
        prev = state
        state = step(state, action)
        out.append((prev, state))
    return out


def test_spec_of_classic_control():
    cp = envs.make("cartpole").spec
    assert (cp.obs_size, cp.action_size, cp.discrete, cp.max_episode_steps) == (4, 2, True, 500)
    pe = envs.make("pendulum").spec
    assert (pe.obs_size, pe.action_size, pe.discrete, pe.max_episode_steps) == (3, 1, False, 200)
    assert pe.action_low == (-2.0,) and pe.action_high == (2.0,)
    assert envs.make("acrobot").spec.action_size == 3
    assert envs.make("mountaincar_continuous").spec.max_episode_steps == 999
    assert envs.EnvSpec.from_dict(pe.to_dict()) == pe


def test_unknown_env_lists_names_and_suggests():
    with pytest.raises(ValueError, match="Did you mean 'cartpole'.*Known envs: .*pendulum"):
        envs.make("cartpol")


def test_unknown_gymnax_option_is_named():
    with pytest.raises(ValueError, match="unknown option.*'gravityy'"):
        envs.make("pendulum", gravityy=3.0)


def test_options_change_dynamics():
    a = rollout(envs.make("pendulum"), jnp.ones(1), 3)[-1][1]
    b = rollout(envs.make("pendulum", g=20.0), jnp.ones(1), 3)[-1][1]
    assert not np.allclose(a.next_obs, b.next_obs)
    assert envs.make("pendulum", g=20.0).spec.options == (("g", 20.0),)


def test_termination_keeps_true_final_obs_and_resets():
    env = envs.make("cartpole")
    steps = rollout(env, jnp.int32(1), 60)  # always push right: the pole falls fast
    ends = [i for i, (_, s) in enumerate(steps) if bool(s.done)]
    assert ends, "constant action should end a cartpole episode within 60 steps"
    i = ends[0]
    prev, s = steps[i]
    assert bool(s.terminated) and not bool(s.truncated)
    # The true final obs is outside the allowed region (that is why it terminated)...
    x, theta = float(s.next_obs[0]), float(s.next_obs[2])
    assert abs(x) > 2.4 or abs(theta) > 0.2094
    # ... and the obs to act on is a fresh reset state near the origin.
    assert np.all(np.abs(np.asarray(s.obs)) <= 0.05)
    assert not np.allclose(s.obs, s.next_obs)
    # Before the end, the obs to act on is the obs the step reached.
    for _, a in steps[:i]:
        np.testing.assert_array_equal(a.next_obs, a.obs)
    # The completed return is readable right after the final step, then restarts.
    assert float(s.episode_return) == i + 1 and int(s.episode_step) == i + 1
    after = steps[i + 1][1]
    assert float(after.episode_return) == 1.0 and int(after.episode_step) == 1


def test_truncation_is_not_termination():
    env = envs.make("pendulum")
    steps = rollout(env, jnp.zeros(1), 201)
    flags = [(bool(s.terminated), bool(s.truncated)) for _, s in steps]
    assert flags[199] == (False, True)
    assert all(f == (False, False) for f in flags[:199])
    prev, last = steps[199]
    # The true final observation continues the trajectory smoothly from the previous one.
    assert float(jnp.abs(last.next_obs - prev.obs).max()) < 0.5
    assert int(steps[200][1].episode_step) == 1


def test_custom_time_limit_truncates_cartpole():
    env = envs.make("cartpole", max_episode_steps=5)
    steps = rollout(env, jnp.int32(0), 5)
    assert bool(steps[4][1].truncated) and not bool(steps[4][1].terminated)
    with pytest.raises(ValueError, match="max_episode_steps"):
        envs.make("cartpole", max_episode_steps=0)


def test_continuous_actions_are_clipped_to_bounds():
    env = envs.make("pendulum")
    big = rollout(env, jnp.array([50.0]), 1)[0][1]
    edge = rollout(env, jnp.array([2.0]), 1)[0][1]
    np.testing.assert_allclose(big.next_obs, edge.next_obs)


def test_vmap_matches_single_env():
    env = envs.make("cartpole")
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    batch = jax.vmap(env.reset)(keys)
    acts = jnp.array([0, 1, 0, 1])
    batch = jax.vmap(env.step)(batch, acts)
    for i in range(4):
        s = env.step(env.reset(keys[i]), acts[i])
        np.testing.assert_array_equal(batch.next_obs[i], s.next_obs)


@pytest.mark.parametrize("name", ["inverted_pendulum"])
def test_brax_adapter_steps(name):
    env = envs.make(name)
    assert env.spec.options == (("backend", "positional"),)
    s = jax.jit(env.step)(jax.jit(env.reset)(jax.random.PRNGKey(0)), jnp.zeros(env.spec.action_size))
    assert s.next_obs.shape == (env.spec.obs_size,) and s.obs.dtype == jnp.float32
    assert np.isfinite(float(s.reward))


def test_brax_bad_backend():
    with pytest.raises(ValueError, match="unknown Brax backend 'warp'"):
        envs.make("hopper", backend="warp")


def test_cached_reset_restarts_from_the_first_initial_state():
    env = envs.make("cartpole", reset="cached")
    state = env.reset(jax.random.PRNGKey(0))
    first_obs = state.obs
    step = jax.jit(env.step)
    for _ in range(60):
        state = step(state, jnp.int32(1))
        if bool(state.done):
            break
    assert bool(state.done)
    np.testing.assert_array_equal(state.obs, first_obs)
    fresh = envs.make("cartpole")
    assert fresh.reset_mode == "fresh" and envs.make("inverted_pendulum").reset_mode == "cached"
    with pytest.raises(ValueError, match="reset must be"):
        envs.make("cartpole", reset="sometimes")


def test_disabled_leg_mask_zeroes_hip_and_ankle_of_the_first_legs():
    from jaxil.envs.brax_env import disabled_leg_mask

    np.testing.assert_array_equal(np.asarray(disabled_leg_mask(8, 2)), [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(disabled_leg_mask(8, 0)), np.ones(8))
    with pytest.raises(ValueError, match="disabled_legs"):
        disabled_leg_mask(8, 5)
    with pytest.raises(ValueError, match="option of ant"):
        envs.make("hopper", disabled_legs=1)


@pytest.mark.slow  # compiles Brax's ant on CPU
def test_disabled_ant_ignores_the_actions_of_its_disabled_legs():
    env = envs.make("ant", disabled_legs=2)
    assert ("disabled_legs", 2) in env.spec.options
    a = jnp.full(8, 0.5)
    b = a.at[:4].set(-0.9)  # only the disabled legs' actuators differ
    c = a.at[4].set(-0.9)  # a live actuator differs
    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    step = jax.jit(jax.vmap(env.step, in_axes=(None, 0)))
    out = step(state, jnp.stack([a, b, c]))
    np.testing.assert_array_equal(out.next_obs[0], out.next_obs[1])
    assert not np.allclose(out.next_obs[0], out.next_obs[2])
