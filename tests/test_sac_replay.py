import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs, loop
from jaxil.rl import replay, sac
from jaxil.types import Transition


def rows(start, n):
    v = jnp.arange(start, start + n, dtype=jnp.float32)
    false = jnp.zeros(n, bool)
    return Transition(v[:, None], v[:, None], v[:, None] + 1, v, false, false)


def test_buffer_add_wraps_around():
    example = jax.tree.map(lambda x: x[0], rows(0, 1))
    buf = replay.buffer_init(example, capacity=5)
    buf = replay.buffer_add(buf, rows(0, 3))
    assert int(buf.ptr) == 3 and int(buf.size) == 3
    buf = replay.buffer_add(buf, rows(3, 4))  # 3, 4 fill the end; 5, 6 overwrite rows 0, 1
    assert int(buf.ptr) == 2 and int(buf.size) == 5
    np.testing.assert_array_equal(buf.data.reward, [5, 6, 2, 3, 4])


def test_buffer_samples_only_filled_rows():
    example = jax.tree.map(lambda x: x[0], rows(0, 1))
    buf = replay.buffer_add(replay.buffer_init(example, 100), rows(10, 4))
    batch = replay.buffer_sample(buf, jax.random.PRNGKey(0), 1000)
    assert set(np.asarray(batch.reward).tolist()) == {10.0, 11.0, 12.0, 13.0}
    np.testing.assert_array_equal(batch.next_obs[:, 0], batch.obs[:, 0] + 1)  # rows stay aligned


def test_soft_q_target_by_hand():
    y = sac.soft_q_target(reward=jnp.array([1.0, 1.0]), terminated=jnp.array([False, True]),
                          next_q1=jnp.array([3.0, 3.0]), next_q2=jnp.array([2.0, 2.0]),
                          next_log_prob=jnp.array([-1.0, -1.0]), alpha=0.5, gamma=0.9)
    # min(3, 2) - 0.5 * (-1) = 2.5; y = 1 + 0.9 * 2.5 = 3.25; terminated: y = r = 1
    np.testing.assert_allclose(y, [3.25, 1.0])


def test_truncated_transitions_bootstrap():
    # truncated is not an argument of the target: only termination cuts the bootstrap.
    y = sac.soft_q_target(jnp.zeros(1), jnp.array([False]), jnp.ones(1), jnp.ones(1), jnp.zeros(1), 0.1, 0.5)
    assert float(y[0]) == 0.5


def test_sac_rejects_discrete_env():
    with pytest.raises(ValueError, match="SAC needs continuous actions; 'cartpole' is discrete"):
        sac.make_train(sac.Config(), envs.make("cartpole"))


def test_sac_smoke_and_reward_fn():
    env = envs.make("pendulum")
    cfg = sac.Config(num_envs=2, hidden=(16, 16), batch_size=8, learning_starts=8, buffer_size=64)
    calls = []

    def reward_fn(obs, action, next_obs, r):
        calls.append(obs.shape)
        return -jnp.sum(action**2, -1)

    tr = sac.make_train(cfg, env, reward_fn)
    res = loop.run(tr, jax.random.split(jax.random.PRNGKey(0), 2), sac.Hparams(), 12)
    assert calls and calls[0] == (8, 3)
    for k in ("critic_loss", "actor_loss", "alpha", "q"):
        assert np.isfinite(res.metrics[k]).all(), k
    assert int(res.state.buffer.size[0]) == 24
    # Before learning_starts (step 4 = 8 transitions) the params must not move.
    early = loop.run(tr, jax.random.split(jax.random.PRNGKey(0), 2), sac.Hparams(), 3)
    init = jax.vmap(tr.init, in_axes=(0, None, None))(jax.random.split(jax.random.PRNGKey(0), 2), None, sac.Hparams())
    jax.tree.map(np.testing.assert_array_equal, early.state.params.critic, init.params.critic)


def test_sac_vmap_matches_single_seed():
    env = envs.make("pendulum")
    cfg = sac.Config(num_envs=2, hidden=(16, 16), batch_size=8, learning_starts=4, buffer_size=64)
    tr = sac.make_train(cfg, env)
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    both = loop.run(tr, keys, sac.Hparams(), 6)
    one = loop.run(tr, keys[1:], sac.Hparams(), 6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[1], b[0], rtol=1e-5, atol=1e-6),
                 both.state.params.actor, one.state.params.actor)
