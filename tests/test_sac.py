import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs, eval as ev, loop, policy as pol
from jaxil.rl import replay, sac
from jaxil.types import Transition
from tests.batching import ALONE, check_run_is_independent_of_batch

TINY = sac.Config(num_envs=2, hidden=(16, 16), batch_size=8, learning_starts=16, buffer_size=64)


def rows(values):
    """Transitions whose every field encodes the row's value (to check alignment)."""
    v = jnp.asarray(values, jnp.float32)
    return Transition(v[:, None], -v[:, None], v[:, None] + 0.5, v, v > 100, v < 0)


def one_row():
    return jax.tree.map(lambda x: x[0], rows([0.0]))


# ---- replay buffer ---------------------------------------------------------------

def test_buffer_init_is_empty_with_row_shapes_and_dtypes():
    buf = replay.buffer_init(one_row(), capacity=4)
    assert buf.data.obs.shape == (4, 1) and buf.data.reward.shape == (4,)
    assert buf.data.terminated.dtype == jnp.bool_
    assert int(buf.ptr) == 0 and int(buf.size) == 0


def test_buffer_add_wraps_inside_one_batch():
    buf = replay.buffer_init(one_row(), capacity=4)
    buf = replay.buffer_add(buf, rows([1, 2, 3]))
    assert (int(buf.ptr), int(buf.size)) == (3, 3)
    # Rows 4, 5 go to slots 3 and 0: the write crosses the end of the buffer.
    buf = replay.buffer_add(buf, rows([4, 5]))
    assert (int(buf.ptr), int(buf.size)) == (1, 4)
    np.testing.assert_array_equal(buf.data.reward, [5, 2, 3, 4])
    np.testing.assert_array_equal(buf.data.action[:, 0], [-5, -2, -3, -4])
    np.testing.assert_array_equal(buf.data.next_obs[:, 0], [5.5, 2.5, 3.5, 4.5])
    # Size stays at capacity while the oldest rows keep being overwritten.
    buf = replay.buffer_add(buf, rows([6, 7, 8]))
    assert (int(buf.ptr), int(buf.size)) == (0, 4)
    np.testing.assert_array_equal(buf.data.reward, [5, 6, 7, 8])


def test_buffer_sample_is_uniform_over_filled_rows_and_keeps_rows_aligned():
    buf = replay.buffer_add(replay.buffer_init(one_row(), capacity=10), rows([1, 2, 3, 4]))
    batch = replay.buffer_sample(buf, jax.random.PRNGKey(0), 4000)
    values, counts = np.unique(np.asarray(batch.reward), return_counts=True)
    np.testing.assert_array_equal(values, [1, 2, 3, 4])  # never the 6 empty slots
    assert np.all(np.abs(counts - 1000) < 150), counts  # ~uniform (4 sigma ~ 110)
    np.testing.assert_array_equal(batch.obs[:, 0], batch.reward)
    np.testing.assert_array_equal(batch.action[:, 0], -batch.reward)
    np.testing.assert_array_equal(batch.next_obs[:, 0], batch.reward + 0.5)


# ---- losses and targets ----------------------------------------------------------

def test_soft_q_target_by_hand():
    y = sac.soft_q_target(
        reward=jnp.array([1.0, -2.0, 0.5]),
        terminated=jnp.array([False, False, True]),
        next_q1=jnp.array([3.0, -1.0, 10.0]),
        next_q2=jnp.array([2.0, 4.0, 10.0]),
        next_log_prob=jnp.array([-1.0, 0.5, 2.0]),
        alpha=0.2,
        gamma=0.9,
    )
    # row 0: min(3, 2) - 0.2 * (-1) = 2.2;  1 + 0.9 * 2.2 = 2.98
    # row 1: min(-1, 4) - 0.2 * 0.5 = -1.1; -2 + 0.9 * (-1.1) = -2.99
    # row 2: terminated, no bootstrap:      0.5
    np.testing.assert_allclose(y, [2.98, -2.99, 0.5], rtol=1e-6)


def test_losses_by_hand():
    q = jnp.array([[1.0, 2.0], [3.0, 0.0]])  # [2 heads, B=2]
    target = jnp.array([2.0, 1.0])
    # head 0 errors (-1, 1), head 1 errors (1, -1): per row 0.5 * (1 + 1) = 1
    assert float(sac.critic_loss(q, target)) == pytest.approx(1.0)
    logp = jnp.array([-1.0, 1.0])
    # mean(0.5 * logp - min(q)) = mean(-0.5 - 1, 0.5 - 0) = -0.5
    assert float(sac.actor_loss(logp, q, 0.5)) == pytest.approx(-0.5)
    # Entropy -mean(logp) = 0 is above the target -1: d loss / d log_alpha =
    # -(mean(logp) + target) = 1 > 0, so gradient descent lowers alpha.
    grad = jax.grad(sac.alpha_loss)(jnp.array(0.3), logp, -1.0)
    assert float(grad) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def pendulum():
    return envs.make("pendulum")


@pytest.fixture(scope="module")
def tiny_state(pendulum):
    return jax.jit(lambda key: sac.init(TINY, pendulum, key, sac.Hparams()))(jax.random.PRNGKey(0))


def test_terminated_cuts_bootstrap_truncated_does_not(pendulum, tiny_state):
    obs = jnp.array([[1.0, 0.0, 0.5]])
    hp = sac.Hparams(gamma=0.9, reward_scale=2.0)
    target = jax.jit(lambda b: sac.td_target(TINY, pendulum, tiny_state.params, b, b.reward, hp,
                                             jax.random.PRNGKey(3)))

    def batch(terminated, truncated):
        return Transition(obs, jnp.array([[0.3]]), obs + 0.1, jnp.array([-1.5]),
                          jnp.array([terminated]), jnp.array([truncated]))

    plain, truncated, terminated = target(batch(False, False)), target(batch(False, True)), target(batch(True, False))
    assert float(terminated[0]) == pytest.approx(2.0 * -1.5)  # scaled reward only
    np.testing.assert_array_equal(truncated, plain)  # the time limit is not an absorbing state
    assert abs(float(plain[0]) - float(terminated[0])) > 1e-3  # and the bootstrap really is there


def test_update_with_given_rewards_moves_q_towards_them(pendulum, tiny_state):
    batch = rows(np.arange(8.0))
    batch = batch._replace(obs=jnp.tile(batch.obs, (1, 3)) / 8, next_obs=jnp.tile(batch.next_obs, (1, 3)) / 8,
                           action=jnp.clip(batch.action / 8, -2, 2), terminated=jnp.ones(8, bool))
    hp = sac.Hparams(critic_lr=1e-2)
    step = jax.jit(lambda s, r: sac.update(TINY, pendulum, s, batch, r, hp))
    state = tiny_state
    for _ in range(200):  # terminated: the target is the reward itself
        state, metrics = step(state, jnp.full(8, 5.0))
    q = sac.q_values(TINY, pendulum, state.params, state.params.critic, batch.obs, batch.action)
    np.testing.assert_allclose(q, 5.0, atol=0.2)
    assert float(metrics["alpha"]) != float(jnp.exp(tiny_state.params.log_alpha))


def test_smoke_run_metrics_episodes_and_reward_fn(pendulum):
    # 2 envs x 50 steps per trainer step: pendulum's 200-step episodes end at step 4.
    cfg = sac.Config(num_envs=2, train_freq=50, num_updates=2, hidden=(16, 16), batch_size=16,
                     learning_starts=100, buffer_size=256)
    seen = []

    def reward_fn(obs, action, next_obs, env_reward):
        seen.append((obs.shape, action.shape, next_obs.shape, env_reward.shape))
        return env_reward + 1.0

    trainer = sac.make_train(cfg, pendulum, reward_fn)
    assert trainer.env_steps_per_step == 100
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 2), sac.Hparams(), 6)
    assert seen[0] == ((16, 3), (16, 1), (16, 3), (16,))  # applied to sampled batches
    for k in ("critic_loss", "actor_loss", "alpha", "q", "entropy"):
        assert res.metrics[k].shape == (2, 6) and np.isfinite(res.metrics[k]).all(), k
    ret = res.metrics["episode_return"]
    assert np.isnan(ret[:, :3]).all() and np.isnan(ret[:, 4:]).all()
    assert np.all((ret[:, 3] < 0) & (ret[:, 3] > -2000))  # 2 random-action episodes per seed
    np.testing.assert_array_equal(res.metrics["episodes"][:, 3], [2, 2])
    assert res.env_steps == 600 and np.all(np.asarray(res.state.buffer.size) == 256)
    np.testing.assert_array_equal(res.state.env_steps, [600, 600])
    # The policy plugs into jaxil.policy / jaxil.eval as a tanh-Gaussian policy.
    params = jax.tree.map(lambda x: x[0], trainer.policy(res.state))
    assert trainer.policy_spec.kind == "tanh_gaussian" and isinstance(params["obs_norm"], pol.ObsNorm)
    returns = jax.jit(lambda p: ev.evaluate(pendulum, pol.make_act(trainer.policy_spec), p,
                                            jax.random.PRNGKey(1), 2))(params)
    assert np.isfinite(returns).all()


def test_hparams_values_do_not_recompile(pendulum):
    trainer = sac.make_train(TINY, pendulum)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))
    chunk = loop.compile_chunk(trainer, 10)  # 20 transitions: past learning_starts
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    alphas = []
    for hp in [sac.Hparams(), sac.Hparams(actor_lr=3e-4, tau=0.01, init_alpha=0.1), sac.Hparams(gamma=0.5)]:
        hp = loop.broadcast_hparams(hp, 2)
        _, metrics = chunk(init(keys, None, hp), None, hp)
        alphas.append(np.asarray(metrics["alpha"]))
    assert chunk._cache_size() == 1 and init._cache_size() == 1
    assert np.allclose(alphas[1][:, 0], 0.1) and np.allclose(alphas[0][:, 0], 1.0)  # values were used


@ALONE
def test_vmapped_seed_equals_its_single_run_and_nothing_learns_before_learning_starts(pendulum, alone):
    trainer = sac.make_train(TINY, pendulum)  # 2 transitions per step; learning starts at 16
    keys = jax.random.split(jax.random.PRNGKey(1), 3)
    halfway = []

    def keep_halfway(done, state, metrics):
        if done == 5:
            halfway.append(jax.tree.map(np.asarray, state))

    first = check_run_is_independent_of_batch(trainer, keys, sac.Hparams(), 10, alone=alone, chunk_steps=5,
                                              on_chunk=keep_halfway)
    # After 5 steps (10 transitions) the update's results were all discarded; by step 10 they were not.
    hp = loop.broadcast_hparams(sac.Hparams(), 2)
    init = loop.init_runs(trainer, None)(keys[:2], None, hp)  # the runs [0, 1] of `first`, as they started
    for name in ("critic", "target_critic", "log_alpha"):
        jax.tree.map(np.testing.assert_array_equal, getattr(halfway[0].params, name), getattr(init.params, name))
    assert np.all(np.asarray(first.state.params.log_alpha) != np.asarray(init.params.log_alpha))
    np.testing.assert_array_equal(halfway[0].buffer.size, [10, 10])


def test_config_validation(pendulum):
    with pytest.raises(ValueError, match="SAC sizes must be >= 1"):
        sac.Config(num_updates=0)
    with pytest.raises(ValueError, match=r"buffer_size=64 cannot hold one step's 100 rows "
                                         r"\(num_envs=2 x train_freq=50\)"):
        sac.Config(num_envs=2, train_freq=50, buffer_size=64)
    with pytest.raises(ValueError, match="SAC needs continuous actions"):
        sac.make_train(sac.Config(), envs.make("cartpole"))


# ---- learning --------------------------------------------------------------------

@pytest.mark.slow
def test_sac_solves_pendulum_every_seed(pendulum):
    """Default Config/Hparams: 8 vmapped seeds, 20k env steps each (~2 min on 2 CPU cores)."""
    trainer = sac.make_train(sac.Config(), pendulum)
    keys = jax.random.split(jax.random.PRNGKey(0), 8)
    res = loop.run(trainer, keys, sac.Hparams(), sac.PENDULUM_STEPS, chunk_steps=sac.PENDULUM_STEPS // 5)
    act = pol.make_act(trainer.policy_spec)
    evaluate = jax.jit(jax.vmap(lambda p, k: ev.evaluate(pendulum, act, p, k, 16)))
    returns = np.asarray(evaluate(jax.vmap(trainer.policy)(res.state), jax.random.split(jax.random.PRNGKey(1), 8)))
    # A uniform random policy scores about -1200; a swung-up, balanced pendulum about -150.
    assert returns.mean(1).min() >= -200, returns.mean(1)
