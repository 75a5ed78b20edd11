import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs, experts, loop, policy as pol
from jaxil.algos import filtered_bc, iql
from jaxil.data import mixed
from jaxil.envs import EnvSpec
from jaxil.types import Demos
from tests.batching import ALONE, check_run_is_independent_of_batch


class SpecOnly(NamedTuple):
    """IQL and BC read nothing of an env but its spec."""

    spec: EnvSpec


DISCRETE = SpecOnly(EnvSpec("bandit", obs_size=2, action_size=3, discrete=True, max_episode_steps=1))
CONTINUOUS = SpecOnly(EnvSpec("bandit", obs_size=1, action_size=1, discrete=False, max_episode_steps=1,
                              action_low=(-1.0,), action_high=(1.0,)))


def one_step_episodes(obs, action, reward) -> Demos:
    """A dataset of one-step episodes that all end (terminated), one row each."""
    n = len(reward)
    return data.to_jax(data.make_demos(obs, action, np.zeros_like(obs), reward, np.ones(n, bool), np.zeros(n, bool),
                                       np.arange(n)))


def discrete_bandit() -> Demos:
    """State 0: action 0 (reward 0) 7 times, action 1 (reward 1) 3 times.
    State 1: action 0 (reward 0) 8 times, action 2 (reward 1) 2 times."""
    state = np.repeat([0, 0, 1, 1], [7, 3, 8, 2])
    action = np.repeat([0, 1, 0, 2], [7, 3, 8, 2])
    reward = np.repeat([0.0, 1.0, 0.0, 1.0], [7, 3, 8, 2])
    return one_step_episodes(np.eye(2)[state], action, reward)


def continuous_bandit() -> Demos:
    """One state; action -0.5 (reward 0) 7 times, +0.5 (reward 1) 3 times."""
    action = np.repeat([-0.5, 0.5], [7, 3])[:, None]
    return one_step_episodes(np.ones((10, 1)), action, np.repeat([0.0, 1.0], [7, 3]))


# ---- losses against hand-computed values ---------------------------------------

def test_expectile_loss_by_hand():
    diff = jnp.array([1.0, -2.0, 0.5])
    # positive errors weigh 0.7, negative ones 0.3: (0.7 * 1 + 0.3 * 4 + 0.7 * 0.25) / 3
    assert float(iql.expectile_loss(diff, 0.7)) == pytest.approx((0.7 + 1.2 + 0.175) / 3, rel=1e-6)
    # tau = 0.5 is half the mean squared error
    assert float(iql.expectile_loss(diff, 0.5)) == pytest.approx(0.5 * (1 + 4 + 0.25) / 3, rel=1e-6)


def test_expectile_loss_is_minimised_at_the_expectile():
    # The tau-expectile v of samples x solves tau E[(x - v)+] = (1 - tau) E[(v - x)+]:
    # found in float64 numpy by bisection; the loss's gradient in v must vanish there.
    x = np.array([0.0, 1.0, 1.0, 4.0, -2.0, 3.0])
    for tau in (0.5, 0.7, 0.9):
        lo, hi = x.min(), x.max()
        for _ in range(60):
            v = (lo + hi) / 2
            excess = tau * np.maximum(x - v, 0).sum() - (1 - tau) * np.maximum(v - x, 0).sum()
            lo, hi = (v, hi) if excess > 0 else (lo, v)
        grad = jax.grad(lambda v: iql.expectile_loss(jnp.asarray(x, jnp.float32) - v, tau))(jnp.float32(v))
        assert abs(float(grad)) < 1e-5, (tau, v, grad)
        assert tau != 0.5 or v == pytest.approx(x.mean())
    assert v > np.quantile(x, 0.6)  # tau = 0.9 sits well above the mean (1.17), towards the max


def test_q_target_and_loss_by_hand():
    y = iql.q_target(jnp.array([1.0, -1.0]), jnp.array([False, True]), jnp.array([2.0, 5.0]), 0.9)
    np.testing.assert_allclose(y, [1.0 + 0.9 * 2.0, -1.0])  # the terminal row does not bootstrap
    q = jnp.array([[1.0, 0.0], [3.0, -1.0]])  # [2 heads, B=2]
    # row 0: (1 - 2)^2 + (3 - 2)^2 = 2; row 1: 1 + 0 = 1; mean 1.5
    assert float(iql.q_loss(q, jnp.array([2.0, -1.0]))) == pytest.approx(1.5)


def test_awr_weights_and_loss_by_hand():
    w = iql.awr_weights(jnp.array([0.0, 0.5, -1.0, 10.0]), 2.0, 100.0)
    np.testing.assert_allclose(w, [1.0, math.e, math.exp(-2.0), 100.0], rtol=1e-6)  # exp(20) clipped to 100
    assert np.isfinite(iql.awr_weights(jnp.array([1e4]), 3.0, 100.0)).all()  # no overflow before the clip
    logp = jnp.array([-1.0, -2.0])
    assert float(iql.awr_loss(logp, jnp.array([2.0, 0.5]))) == pytest.approx((2.0 + 1.0) / 2)
    # the weights are constants: the gradient flows into log pi only
    g = jax.grad(lambda w: iql.awr_loss(logp, w))(jnp.array([2.0, 0.5]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


# ---- probes: one-step bandits whose IQL solution is known in closed form ------------

TINY = iql.Config(hidden=(16,), batch_size=128, updates_per_step=100)
PROBE_HP = iql.Hparams(actor_lr=3e-3, critic_lr=3e-3, value_lr=3e-3, tau=0.05, beta=3.0, expectile=0.7)


@pytest.fixture(scope="module")
def discrete_trainer():
    # One trainer for the discrete tests: loop.run caches its chunk per trainer, so
    # they share one compilation of 2 runs x 1 step.
    return iql.make_train(TINY, DISCRETE)


def test_discrete_bandit_values_and_policy_match_closed_form(discrete_trainer):
    trainer = discrete_trainer
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 2), PROBE_HP, 20, demos=discrete_bandit(),
                   chunk_steps=1)
    obs = jnp.eye(2)
    # Q = r exactly (one-step episodes). V is the 0.7-expectile of Q under the data:
    # state 0: 0.7 * 0.3 (1 - v) = 0.3 * 0.7 v -> v = 0.5;
    # state 1: 0.7 * 0.2 (1 - v) = 0.3 * 0.8 v -> v = 0.14 / 0.38.
    v_exact = np.array([0.5, 0.14 / 0.38])
    # AWR's optimum: pi(a|s) proportional to mu(a|s) exp(beta (Q - V)); BC's is mu itself,
    # whose most likely action (0, rewarded 0) IQL must not take.
    mu = np.array([[0.7, 0.3, 0.0], [0.8, 0.0, 0.2]])
    q_exact = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    awr = mu * np.exp(3.0 * (q_exact - v_exact[:, None]))
    awr /= awr.sum(1, keepdims=True)  # state 0: [0.10, 0.90, 0]; state 1: [0.17, 0, 0.83]
    for seed in range(2):
        state = jax.tree.map(lambda x: x[seed], res.state)
        np.testing.assert_allclose(iql.values(TINY, state.params, state.params.value, obs), v_exact, atol=0.05)
        q = iql.q_values(TINY, DISCRETE, state.params, state.params.critic, obs[jnp.array([0, 0, 1, 1])],
                         jnp.array([0, 1, 0, 2]))
        np.testing.assert_allclose(q, np.broadcast_to([0.0, 1.0, 0.0, 1.0], (2, 4)), atol=0.05)
        probs = jax.nn.softmax(pol.dist_params(trainer.policy_spec, trainer.policy(state), obs))
        np.testing.assert_allclose(probs, awr, atol=0.05)
        np.testing.assert_array_equal(pol.mode(trainer.policy_spec, trainer.policy(state), obs), [1, 2])


def test_continuous_bandit_mean_is_the_advantage_weighted_action():
    trainer = iql.make_train(TINY, CONTINUOUS)
    res = loop.run(trainer, jax.random.PRNGKey(0)[None], PROBE_HP, 20, demos=continuous_bandit())
    # V = 0.5 (as in state 0 above), A = +-0.5: the Gaussian's mean is the average of
    # the actions weighted by mu * exp(3 A): 3 e^1.5 at +0.5, 7 e^-1.5 at -0.5 -> 0.396,
    # where BC's would be the data mean, -0.2.
    w_good, w_bad = 3 * math.exp(1.5), 7 * math.exp(-1.5)
    want = 0.5 * (w_good - w_bad) / (w_good + w_bad)
    params = jax.tree.map(lambda x: x[0], trainer.policy(res.state))
    act = pol.mode(trainer.policy_spec, params, jnp.ones((1, 1)))
    assert float(act[0, 0]) == pytest.approx(want, abs=0.04)


# ---- the trainer shape -----------------------------------------------------------------

@ALONE
def test_vmapped_runs_equal_single_runs(discrete_trainer, alone):
    trainer, demos = discrete_trainer, discrete_bandit()
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    hp = iql.Hparams(beta=jnp.array([1.0, 5.0, 2.0]), expectile=jnp.array([0.6, 0.9, 0.7]))
    both = check_run_is_independent_of_batch(trainer, keys, hp, 2, alone=alone, demos=demos, chunk_steps=1)
    assert both.env_steps == 0 and trainer.env_steps_per_step == 0  # fully offline


def test_new_hparams_or_demo_contents_do_not_recompile(discrete_trainer):
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    init = jax.jit(jax.vmap(discrete_trainer.init, in_axes=(0, None, 0)))
    chunk = loop.compile_chunk(discrete_trainer, 1)
    other = discrete_bandit()._replace(reward=1.0 - discrete_bandit().reward)
    sizes = []
    for hp, demos in [(iql.Hparams(), discrete_bandit()), (iql.Hparams(beta=0.0, gamma=0.5), other)]:
        hp = loop.broadcast_hparams(hp, 2)
        chunk(init(keys, demos, hp), demos, hp)
        sizes.append((chunk._cache_size(), init._cache_size()))
    assert sizes[1] == sizes[0] and sizes[0][1] == 1


def test_config_errors():
    with pytest.raises(ValueError, match="policy_kind 'categorical' does not fit env 'bandit'"):
        iql.make_train(iql.Config(policy_kind="categorical"), CONTINUOUS)
    with pytest.raises(ValueError, match="unknown IQL policy_kind"):
        iql.Config(policy_kind="beta")
    with pytest.raises(ValueError, match="updates_per_step must be >= 1"):
        iql.Config(updates_per_step=0)


# ---- filtered BC ---------------------------------------------------------------------

def test_top_episode_mask_by_hand():
    # 4 episodes of lengths 2, 1, 3, 2 with returns 3, -1, 5, 3, then 2 padding rows.
    episode = np.array([0, 0, 1, 2, 2, 2, 3, 3, 0, 0])
    reward = np.array([1.0, 2.0, -1.0, 1.0, 1.0, 3.0, 0.0, 3.0, 9.0, 9.0])
    mask = np.array([1.0] * 8 + [0.0] * 2)
    n = len(reward)
    demos = Demos(jnp.zeros((n, 1)), jnp.zeros(n, jnp.int32), jnp.zeros((n, 1)), jnp.asarray(reward),
                  jnp.zeros(n, bool), jnp.zeros(n, bool), jnp.asarray(episode), jnp.asarray(mask))
    top = jax.jit(filtered_bc.top_episode_mask)
    # k = ceil(f * 4): 0.25 -> episode 2 only; 0.5 -> the 3rd-best ties the 2nd (both 3): 0, 2, 3
    np.testing.assert_array_equal(top(demos, 0.25), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(top(demos, 0.5), [1, 1, 0, 1, 1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(top(demos, 1.0), mask)  # all real rows, never the padding
    np.testing.assert_array_equal(top(demos, 0.01), top(demos, 0.25))  # at least one episode
    returns, present = filtered_bc.episode_returns(demos)
    np.testing.assert_array_equal(returns[:4], [3, -1, 5, 3])  # padding rewards (9) not counted
    np.testing.assert_array_equal(present, [True] * 4 + [False] * 6)


def test_filtered_bc_clones_the_best_episodes_and_bc_the_majority():
    config = filtered_bc.Config(bc=filtered_bc.bc.Config(hidden=(8,), batch_size=64, updates_per_step=50))
    trainer = filtered_bc.make_train(config, DISCRETE)
    # One program: run 0 keeps the top 25% of episodes (the 5 with reward 1), run 1 all.
    hp = filtered_bc.Hparams(top_fraction=jnp.array([0.25, 1.0]), lr=1e-2)
    res = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 2), hp, 6, demos=discrete_bandit())
    act = jax.vmap(lambda p: pol.mode(trainer.policy_spec, p, jnp.eye(2)))(jax.vmap(trainer.policy)(res.state))
    np.testing.assert_array_equal(act, [[1, 2], [0, 0]])
    assert trainer.env_steps_per_step == 0


# ---- learning on a mixed-quality dataset -------------------------------------------

@pytest.mark.slow
def test_iql_beats_the_dataset_on_mixed_pendulum():
    """5 seeds, 3000 updates each on 100 mixed episodes (~4 min on 2 CPU cores).

    Seeds run one after another on one compilation: the 5-seed vmapped program of
    the 256-wide networks hangs in XLA CPU (jax 0.10.2) on 2 cores."""
    env = envs.make("pendulum")
    mix = mixed.build("pendulum", jax.random.PRNGKey(0))
    trainer = iql.make_train(iql.Config(), env)
    keys = jax.random.split(jax.random.PRNGKey(1), 5)
    runs = [loop.run(trainer, keys[i:i + 1], iql.Hparams(), 30, demos=data.to_jax(mix.demos), chunk_steps=6).state
            for i in range(5)]
    state = jax.tree.map(lambda *xs: jnp.concatenate(xs), *runs)
    returns = experts.evaluate_seeds(env, trainer, state, jax.random.PRNGKey(2), 16).mean(1)
    score, dataset = experts.normalize("pendulum", returns), experts.normalize("pendulum", mix.returns.mean())
    assert dataset < 0.35 and score.min() > dataset + 0.3, (score, dataset)
