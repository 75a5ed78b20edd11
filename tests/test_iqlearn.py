import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs, eval as ev, experts, loop, policy as pol
from jaxil.algos import iqlearn as iq, offpolicy as op
from tests.batching import ALONE, check_run_is_independent_of_batch

TINY = dict(hidden=(8,), batch_size=8)


def test_iq_losses_by_hand():
    gamma, c = 0.9, 0.5
    # expert: Q (2, 1), V (1, 0), V' (1, 2), second row terminated -> r_E = (2 - 0.9, 1 - 0) = (1.1, 1)
    expert = (jnp.array([2.0, 1.0]), jnp.array([1.0, 0.0]), jnp.array([1.0, 2.0]), jnp.array([False, True]))
    # replay: Q (0), V (3), V' (2) -> r_R = 0 - 1.8 = -1.8, V - gamma V' = 3 - 1.8 = 1.2
    replay = (jnp.array([0.0]), jnp.array([3.0]), jnp.array([2.0]), jnp.array([False]))
    loss, metrics = iq.iq_loss_online(expert, replay, gamma, c)
    value_term = (0.1 + 0.0 + 1.2) / 3  # V - gamma V' over expert (1 - 0.9, 0 - 0) and replay
    chi2 = (1.1**2 + 1.0 + 1.8**2) / 3 / (4 * c)
    assert float(loss) == pytest.approx(-(1.1 + 1.0) / 2 + value_term + chi2, rel=1e-6)
    assert float(metrics["replay_reward"]) == pytest.approx(-1.8, rel=1e-6)
    # offline: V(s0) of initial states (4, 2) replaces the value term
    loss, _ = iq.iq_loss_offline(expert, jnp.array([4.0, 2.0]), gamma, c)
    assert float(loss) == pytest.approx(-1.05 + 0.1 * 3.0 + (1.1**2 + 1.0) / 2 / (4 * c), rel=1e-6)
    # online with value_term="v0": (1 - gamma) mean V(s0) replaces the mix's value term, chi^2 stays on both
    loss, metrics = iq.iq_loss_online(expert, replay, gamma, c, v0=jnp.array([4.0, 2.0]))
    assert float(loss) == pytest.approx(-1.05 + 0.1 * 3.0 + chi2, rel=1e-6)
    assert float(metrics["value_term"]) == pytest.approx(0.3, rel=1e-6)


def test_unknown_value_term_is_refused():
    with pytest.raises(ValueError, match="value_term"):
        iq.Config(value_term="v1")
    with pytest.raises(ValueError, match="chi2_policy_actions=True needs replay rows"):
        iq.Config(offline=True, chi2_policy_actions=True)


def _demo_batch(env_name: str, absorbing: bool = False, n: int = 6):
    """The env and the first ``n`` prepared rows of its first shipped trajectory."""
    env = envs.make(env_name)
    d, _ = data.load_demos(experts.resolve_demos(env_name), env)
    rows, _ = op.prepare(data.to_jax(data.select_trajectories(d, 1)), absorbing)
    return env, jax.tree.map(lambda x: x[:n], rows)


def test_target_network_gives_v_next_without_gradient_and_polyak_steps():
    """The paper's MuJoCo form: V(s') reads the target copy, carries no gradient into Q, and
    the copy moves tau of the way to the updated Q after each update."""
    env, batch = _demo_batch("pendulum")
    cfg = iq.Config(value_term="v0", target_network=True, chi2_policy_actions=True, **TINY)
    learner = iq.learner(cfg, env)
    hp = iq.Hparams(tau=0.25, critic_lr=1e-2)
    params = learner.init(jax.random.PRNGKey(0), hp, pol.ObsNorm.create(3))
    jax.tree.map(np.testing.assert_array_equal, params.q_target, params.q)
    target = jax.tree.map(lambda x: x + 0.1, params.q)  # a target copy that differs from Q
    key = jax.random.PRNGKey(3)
    values = lambda q: iq.batch_values(cfg, env, q, params.obs_norm, params.actor, batch, params.temperature, key,
                                       next_q_params=target)
    k_next = jax.random.split(key, 3)[1]
    expected = iq.state_value(cfg, env, target, params.obs_norm, params.actor, batch.next_obs, params.temperature,
                              k_next)
    np.testing.assert_allclose(values(params.q).v_next, expected, rtol=1e-6)
    grads = jax.grad(lambda q: values(q).v_next.sum())(params.q)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))
    new, metrics = jax.jit(learner.update)(params, batch, batch, batch.obs, jax.random.PRNGKey(4), hp)
    assert np.isfinite(float(metrics["iq_loss"]))
    jax.tree.map(lambda t, q0, q1: np.testing.assert_allclose(t, 0.75 * q0 + 0.25 * q1, rtol=1e-5, atol=1e-7),
                 new.q_target, params.q_target, new.q)
    assert any(float(jnp.abs(a - b).max()) > 0 for a, b in zip(jax.tree.leaves(new.q), jax.tree.leaves(params.q)))


def test_the_policy_action_at_s_and_the_sample_at_s_next_draw_independent_noise():
    # s' = s and temperature 0: V(s') = Q(s, a'), the chi^2 row's value Q(s, a ~ pi); with one
    # key for both draws (fold_in(key, 1) is split(key)[1] under partitionable threefry) the
    # two actions, and so the two values, would be equal row for row.
    cfg = iq.Config(**TINY)
    env, batch = _demo_batch("pendulum", cfg.absorbing)
    batch = batch._replace(next_obs=batch.obs)
    params = iq.learner(cfg, env).init(jax.random.PRNGKey(0), iq.Hparams(), pol.ObsNorm.create(3))
    values = iq.batch_values(cfg, env, params.q, params.obs_norm, params.actor, batch, 0.0, jax.random.PRNGKey(1),
                             policy_action=True)
    assert float(jnp.abs(values.q - values.v_next).min()) > 0, (values.q, values.v_next)


@pytest.mark.parametrize("env_name", ["pendulum", "cartpole"])
def test_chi2_policy_actions_ignore_the_replay_action(env_name):
    cfg = iq.Config(**TINY)
    env, batch = _demo_batch(env_name, cfg.absorbing)
    other = batch._replace(action=1 - batch.action if env.spec.discrete else -batch.action + 0.5)
    params = iq.learner(cfg, env).init(jax.random.PRNGKey(0), iq.Hparams(temperature=0.5),
                                       pol.ObsNorm.create(env.spec.obs_size))
    q = lambda b, policy_action: iq.batch_values(cfg, env, params.q, params.obs_norm, params.actor, b,
                                                 params.temperature, jax.random.PRNGKey(1),
                                                 policy_action=policy_action).q
    np.testing.assert_array_equal(q(batch, True), q(other, True))
    assert float(jnp.abs(q(batch, False) - q(other, False)).max()) > 0
    if env.spec.discrete:  # exactly sum_a softmax(Q / T)(a) Q(s, a)
        q_all = iq.q_all_actions(cfg, env, params.q, params.obs_norm, batch.obs)
        np.testing.assert_allclose(q(batch, True), (jax.nn.softmax(q_all / 0.5, -1) * q_all).sum(-1), rtol=1e-6)


def test_soft_value_discrete_by_hand():
    q = jnp.array([[0.0, math.log(3.0)], [1.0, 1.0]])
    np.testing.assert_allclose(iq.soft_value_discrete(q, 1.0), [math.log(4.0), 1.0 + math.log(2.0)], rtol=1e-6)
    # T -> 0: the hard max
    np.testing.assert_allclose(iq.soft_value_discrete(q, 1e-3), [math.log(3.0), 1.0], atol=1e-3)


@pytest.mark.parametrize("clip", [None, 10.0])
@pytest.mark.parametrize("absorbing", [False, True])
def test_discrete_policy_is_softmax_of_q_over_t(absorbing, clip):
    env = envs.make("cartpole")
    cfg = iq.Config(absorbing=absorbing, hidden=(16, 16), obs_clip=clip)
    learner = iq.learner(cfg, env)
    norm = pol.ObsNorm(jnp.array([0.1, -0.2, 0.0, 0.3]), jnp.array([4.0, 0.25, 1e-4, 1.0]), jnp.ones(()))
    params = learner.init(jax.random.PRNGKey(0), iq.Hparams(temperature=0.05), norm)
    obs = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    standardised = (obs - norm.mean) / jnp.sqrt(norm.var)  # by hand: Q's input (coordinate 2's std is 0.01)
    standardised = standardised if clip is None else jnp.clip(standardised, -clip, clip)
    q = iq._q_net(cfg, env).apply(params.q, op.absorbing_obs(standardised) if absorbing else standardised)
    logits = pol.dist_params(learner.spec, learner.policy(params), obs)
    np.testing.assert_allclose(logits, q / 0.05, rtol=1e-4, atol=1e-4)
    assert learner.spec.kind == "categorical"


def test_termination_cuts_v_next_without_absorbing_states():
    env = envs.make("cartpole")
    cfg = iq.Config(absorbing=False, **TINY)
    learner = iq.learner(cfg, env)
    params = learner.init(jax.random.PRNGKey(0), iq.Hparams(), pol.ObsNorm.create(4))
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), env)
    rows, _ = op.prepare(data.to_jax(data.select_trajectories(d, 1)), False)
    batch = jax.tree.map(lambda x: x[:2], rows)._replace(terminated=jnp.array([False, True]))
    values = iq.batch_values(cfg, env, params.q, params.obs_norm, None, batch, params.temperature,
                             jax.random.PRNGKey(0))
    r = iq.implied_reward(values.q, values.v_next, values.terminated, 0.99)
    np.testing.assert_allclose(r, [values.q[0] - 0.99 * values.v_next[0], values.q[1]], rtol=1e-6)


@pytest.fixture(scope="module")
def pendulum_setup():
    env = envs.make("pendulum")
    d, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    cfg = iq.Config(num_envs=2, learning_starts=4, buffer_size=64, **TINY)
    return env, data.to_jax(data.select_trajectories(d, 1)), iq.make_train(cfg, env)


@ALONE
def test_vmapped_runs_equal_single_runs_online(pendulum_setup, alone):
    env, demos, trainer = pendulum_setup
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    hp = iq.Hparams(critic_lr=jnp.array([1e-3, 3e-4, 1e-4]))
    batched = check_run_is_independent_of_batch(trainer, keys, hp, 4, alone=alone, demos=demos)  # updates from step 2
    for k in ("iq_loss", "actor_loss", "chi2", "expert_reward", "replay_reward"):
        assert np.isfinite(batched.metrics[k]).all(), k
    assert trainer.policy_spec.kind == "tanh_gaussian"


def test_offline_cartpole_from_four_trajectories_every_seed():
    """Expert-only IQ-Learn on 4 shipped cartpole trajectories: 3 seeds, 1000 updates (~20 s)."""
    env = envs.make("cartpole")
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), env)
    trainer = iq.make_train(iq.Config(offline=True, hidden=(32, 32), batch_size=64, num_updates=100), env)
    assert trainer.env_steps_per_step == 0
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    res = loop.run(trainer, keys, iq.Hparams(critic_lr=1e-3), 10, demos=data.to_jax(data.select_trajectories(d, 4)))
    act = pol.make_act(trainer.policy_spec)
    returns = jax.jit(jax.vmap(lambda p, k: ev.evaluate(env, act, p, k, 8)))(
        jax.vmap(trainer.policy)(res.state), jax.random.split(jax.random.PRNGKey(1), 3))
    scores = experts.normalize("cartpole", np.asarray(returns).mean(1))
    assert scores.min() >= 0.9, scores


def test_brax_defaults_take_the_papers_mujoco_form():
    from jaxil import algos
    cfg, _, steps = algos.defaults("iqlearn", "hopper")
    assert (cfg.value_term, cfg.target_network, cfg.chi2_policy_actions) == ("v0", True, True)
    assert steps * cfg.env_steps_per_step == 100_000
    assert cfg.num_updates == cfg.env_steps_per_step  # one update per env step, as the paper
    offline, _, _ = algos.defaults("iqlearn", "hopper", offline=True)
    pendulum, _, _ = algos.defaults("iqlearn", "pendulum")
    for cfg in (offline, pendulum):
        assert (cfg.value_term, cfg.target_network, cfg.chi2_policy_actions) == ("value", False, False)
