import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs, experts, loop
from jaxil.rl import ppo
from tests.batching import ALONE, check_run_is_independent_of_batch


def gae_numpy(r, v, nv, term, done, gamma, lam):
    T = len(r)
    adv = np.zeros(T)
    nxt = 0.0
    for t in reversed(range(T)):
        delta = r[t] + gamma * (1 - term[t]) * nv[t] - v[t]
        nxt = delta + gamma * lam * (1 - done[t]) * nxt
        adv[t] = nxt
    return adv


def test_gae_matches_hand_computation():
    # Two-step case worked by hand: gamma=0.5, lam=0.5, no episode end.
    adv, target = ppo.gae(jnp.array([1.0, 2.0]), jnp.array([0.0, 1.0]), jnp.array([1.0, 4.0]),
                          jnp.array([False, False]), jnp.array([False, False]), 0.5, 0.5)
    # delta1 = 2 + 0.5*4 - 1 = 3; delta0 = 1 + 0.5*1 - 0 = 1.5; A0 = 1.5 + 0.25*3 = 2.25
    np.testing.assert_allclose(adv, [2.25, 3.0])
    np.testing.assert_allclose(target, [2.25, 4.0])


def test_gae_terminated_vs_truncated():
    rng = np.random.default_rng(0)
    r, v, nv = rng.normal(size=(3, 6))
    term = np.array([0, 0, 1, 0, 0, 0], bool)
    trunc = np.array([0, 0, 0, 0, 1, 0], bool)
    done = term | trunc
    adv, _ = ppo.gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(nv), jnp.asarray(term), jnp.asarray(done), 0.9, 0.8)
    np.testing.assert_allclose(adv, gae_numpy(r, v, nv, term, done, 0.9, 0.8), rtol=1e-5, atol=1e-6)
    # At truncation the bootstrap V(next_obs) is used; at termination it is not.
    assert adv[4] == pytest.approx(r[4] + 0.9 * nv[4] - v[4], rel=1e-5)
    assert adv[2] == pytest.approx(r[2] - v[2] + 0.9 * 0.8 * 0 , rel=1e-5)


SMALL = ppo.Config(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2, hidden=(16, 16))
# The tests below run SMALL on cartpole as 2 runs x 2 steps where they can: one program,
# compiled once and then found in the suite's persistent compilation cache.


@ALONE
def test_vmap_over_seeds_equals_single_runs(alone):
    trainer = ppo.make_train(SMALL, envs.make("cartpole"))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    check_run_is_independent_of_batch(trainer, keys, ppo.Hparams(), 2, alone=alone)


def test_hparams_values_do_not_recompile():
    env = envs.make("cartpole")
    trainer = ppo.make_train(SMALL, env)
    chunk = loop.compile_chunk(trainer, 2)
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    results = []
    for lr, ent in [(1e-3, 0.0), (3e-4, 0.01), (1e-2, 0.1)]:
        hp = loop.broadcast_hparams(ppo.Hparams(lr=lr, ent_coef=ent), 2)
        state, metrics = chunk(init(keys, None, hp), None, hp)
        results.append(np.asarray(metrics["policy_loss"]))
    assert chunk._cache_size() == 1
    assert init._cache_size() == 1
    assert not np.allclose(results[0], results[2])  # the values really were used


def test_hparams_sweep_in_one_vmap():
    env = envs.make("cartpole")
    trainer = ppo.make_train(SMALL, env)
    # Weak-typed like the broadcast floats of the tests above, so it is their program.
    hp = ppo.Hparams(lr=jnp.stack([jnp.asarray(0.0), jnp.asarray(1e-2)]))
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 2), hp, 2)
    actor = res.state.params["actor"]
    init = jax.jit(jax.vmap(trainer.init, in_axes=(0, None, 0)))(jax.random.split(jax.random.PRNGKey(0), 2), None,
                                                                loop.broadcast_hparams(hp, 2)).params["actor"]
    diff = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max(axis=tuple(range(1, a.ndim)))[0]), actor, init)
    assert max(jax.tree.leaves(diff)) == 0.0  # lr = 0 leaves run 0 untouched


def test_reward_fn_replaces_env_reward():
    env = envs.make("cartpole")
    seen = {}

    def reward_fn(obs, action, next_obs, env_reward):
        seen["shape"] = env_reward.shape
        return jnp.zeros_like(env_reward)

    trainer = ppo.make_train(SMALL, env, reward_fn)
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 1), ppo.Hparams(), 2)
    assert seen["shape"] == (SMALL.num_steps, SMALL.num_envs)
    # With zero reward the value targets are zero, so the critic is pushed to zero.
    assert np.isfinite(res.metrics["value_loss"]).all()


def test_config_validation():
    with pytest.raises(ValueError, match="num_minibatches=3 must divide"):
        ppo.Config(num_envs=4, num_steps=8, num_minibatches=3)


def test_ppo_learns_cartpole_worst_seed():
    env = envs.make("cartpole")
    rec = experts.with_steps(experts.recipe("cartpole"), 160)  # 82k env steps per seed
    trainer = experts.make_trainer(rec, env)
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 4), rec.hparams, rec.num_steps, chunk_steps=80)
    returns = experts.evaluate_seeds(env, trainer, res.state, jax.random.PRNGKey(1), 8).mean(1)
    # A random policy scores ~22; every seed must have learned well beyond it.
    assert returns.min() >= 150, returns
