import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxil import data, envs, experts, loop, nets, policy as pol, validate
from jaxil.algos import offpolicy as op, valuedice as vd
from jaxil.types import Transition
from tests.batching import ALONE, check_run_is_independent_of_batch

TINY = dict(hidden=(8,), batch_size=8)


def _dv_numpy(expert_diff, replay_diff, init_nu, alpha, gamma):
    e, r, i = (np.asarray(x, np.float64) for x in (expert_diff, replay_diff, init_nu))
    nonlinear = np.log((1 - alpha) * np.mean(np.exp(e)) + alpha * np.mean(np.exp(r)))
    return nonlinear - (1 - alpha) * (1 - gamma) * np.mean(i) - alpha * np.mean(r)


def test_dv_objective_by_hand():
    e, r, i = jnp.log(jnp.array([1.0, 2.0])), jnp.log(jnp.array([4.0])), jnp.array([1.0, 3.0])
    # alpha = 0: log mean(1, 2) - (1 - 0.9) mean(1, 3) = log 1.5 - 0.2
    assert float(vd.dv_objective(e, r, i, 0.0, 0.9)) == pytest.approx(math.log(1.5) - 0.2, rel=1e-6)
    # alpha = 0.2: log(0.8 * 1.5 + 0.2 * 4) - 0.8 * 0.1 * 2 - 0.2 * log 4 = 0.6 log 2 - 0.16
    assert float(vd.dv_objective(e, r, i, 0.2, 0.9)) == pytest.approx(0.6 * math.log(2) - 0.16, rel=1e-6)


def test_dv_objective_matches_float64_numpy():
    rng = np.random.default_rng(0)
    e, r, i = rng.normal(size=16) * 3, rng.normal(size=8) * 3, rng.normal(size=16)
    for alpha in (0.0, 0.1, 0.7):
        got = vd.dv_objective(jnp.asarray(e, jnp.float32), jnp.asarray(r, jnp.float32), jnp.asarray(i, jnp.float32),
                              alpha, 0.99)
        assert float(got) == pytest.approx(_dv_numpy(e, r, i, alpha, 0.99), abs=1e-5)


def test_gradient_penalty_of_a_linear_nu():
    w = jnp.array([0.5, -1.0, 2.0])
    x_e, x_r = jnp.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]), jnp.array([[3.0, -1.0, 1.0], [2.0, 2.0, 0.0]])
    gp = vd.gradient_penalty(lambda x: x @ w, x_e, x_r, jax.random.PRNGKey(0))
    assert float(gp) == pytest.approx((math.sqrt(0.25 + 1 + 4) - 1) ** 2, rel=1e-5)


@pytest.fixture(scope="module")
def cartpole():
    return envs.make("cartpole")


def test_discrete_policy_value_is_the_exact_expectation(cartpole):
    cfg = vd.Config(**TINY)
    spec = vd.policy_spec(cfg, cartpole)
    pi = spec.init(jax.random.PRNGKey(0))
    pi["actor"] = jax.tree.map(lambda w: w * 50.0, pi["actor"])  # far from uniform
    w = jnp.arange(1.0, 8.0)  # nu linear in (obs 4 + indicator 1, one-hot 2)
    obs = jnp.array([[0.1, -0.2, 0.3, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])  # an env state, the absorbing state
    value, features, entropy = vd.policy_value(cfg, cartpole, lambda x: x @ w, pi, obs, jax.random.PRNGKey(1))
    probs = np.asarray(jax.nn.softmax(pol.dist_params(spec, pi, obs[:, :4])))
    np.testing.assert_allclose(entropy, -np.sum(probs * np.log(probs), -1), rtol=1e-4, atol=1e-6)
    base = np.asarray(obs) @ np.arange(1.0, 6.0)
    # row 0: sum_a pi(a|s) (w . s + w_{5 + a}); row 1: absorbing, actions do not count
    want = [base[0] + probs[0, 0] * 6 + probs[0, 1] * 7, base[1]]
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(features, probs, rtol=1e-6)


def test_termination_bootstraps_from_the_absorbing_state_whatever_the_policy():
    env = envs.make("pendulum")
    cfg = vd.Config(**TINY)
    w = jnp.array([1.0, 2.0, 3.0, -4.0, 0.5])  # (obs 3, indicator, action)
    nu = lambda x: x @ w
    batch, _ = op.add_absorbing(Transition(jnp.ones((1, 3)), jnp.array([[1.0]]), 2 * jnp.ones((1, 3)), jnp.zeros(1),
                                           jnp.array([True]), jnp.array([False])), jnp.ones(1))
    batch = jax.tree.map(lambda x: x[:1], batch)  # the terminating transition itself
    spec = vd.policy_spec(cfg, env)
    diffs = [vd.bellman_diff(cfg, env, nu, spec.init(jax.random.PRNGKey(s)), batch, 0.9, jax.random.PRNGKey(s))[0]
             for s in range(3)]
    # nu(s, a) = 1 + 2 + 3 + 0.5 * 0.5 (action 1 of [-2, 2] scaled to 0.5); nu(absorbing, .) = -4
    for d in diffs:
        np.testing.assert_allclose(d, [6.25 - 0.9 * -4.0], rtol=1e-6)


def _fixed_batches(env, cfg):
    d, _ = data.load_demos(experts.resolve_demos(env.spec.name), env)
    rows, mask = op.prepare(data.to_jax(data.select_trajectories(d, 2)), cfg.absorbing)
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    return op.sample_rows(k1, rows, mask, 32), op.sample_rows(k2, rows, mask, 32)


@pytest.mark.parametrize("who", ["nu", "actor"])
def test_nu_descends_and_the_actor_ascends_the_objective(cartpole, who):
    # Discrete actions: J is exact (no sampled actions), so its change is the update's alone.
    cfg = vd.Config(hidden=(16,), batch_size=32)
    hp = vd.Hparams(nu_lr=1e-2 if who == "nu" else 0.0, actor_lr=1e-2 if who == "actor" else 0.0,
                    grad_penalty=0.0, ortho_reg=0.0, replay_reg=0.3)
    learner = vd.learner(cfg, cartpole)
    expert, replay = _fixed_batches(cartpole, cfg)
    update = jax.jit(lambda p, k: learner.update(p, expert, replay, expert.obs, k, hp))
    params = learner.init(jax.random.PRNGKey(0), hp, pol.ObsNorm.create(4))
    objective = []
    for i in range(20):
        params, metrics = update(params, jax.random.PRNGKey(i))
        objective.append(float(metrics["dv_objective"]))
    if who == "nu":
        assert objective[-1] < objective[0] - 1e-3, objective
    else:
        assert objective[-1] > objective[0] + 1e-3, objective


def test_linear_decay_runs_update_k_at_lr_times_the_larger_of_floor_and_one_minus_k_over_the_decay():
    params = {"w": jnp.ones(3)}
    opt_state = optax.adam(1e-3).init(params)
    seen, constant, floored, floored_constant = [], [], [], []
    for _ in range(6):
        seen.append(float(op.linear_decay(2.0, 4.0, opt_state)))
        constant.append(float(op.linear_decay(2.0, 0.0, opt_state)))
        floored.append(float(op.linear_decay(2.0, 4.0, opt_state, 0.25)))
        floored_constant.append(float(op.linear_decay(2.0, 0.0, opt_state, 0.25)))
        _, opt_state = op.adam_step(1e-3, params, opt_state, params)
    np.testing.assert_allclose(seen, [2.0, 1.5, 1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(constant, [2.0] * 6)
    # 2 x max(0.25, 1 - k/4): the unfloored line until it meets 0.5, then 0.5
    np.testing.assert_allclose(floored, [2.0, 1.5, 1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(floored_constant, [2.0] * 6)  # no decay: the floor does not apply


def test_actor_rate_decay_freezes_the_policy_after_its_updates_while_nu_keeps_learning(cartpole):
    cfg = vd.Config(hidden=(16,), batch_size=32)
    learner = vd.learner(cfg, cartpole)
    expert, replay = _fixed_batches(cartpole, cfg)
    kept = {}
    for decay, floor in ((0.0, 0.0), (3.0, 0.0), (3.0, 0.5)):
        hp = vd.Hparams(nu_lr=1e-2, actor_lr=1e-2, actor_lr_decay=decay, actor_lr_floor=floor)
        update = jax.jit(lambda p, k: learner.update(p, expert, replay, expert.obs, k, hp))
        params = learner.init(jax.random.PRNGKey(0), hp, pol.ObsNorm.create(4))
        history, rates = [params], []
        for i in range(5):
            params, metrics = update(params, jax.random.PRNGKey(i))
            history.append(params)
            rates.append(float(metrics["actor_lr"]))
        kept[decay, floor] = history, rates
    (constant, constant_rates), (decayed, decayed_rates), (floored, floored_rates) = kept.values()
    np.testing.assert_allclose(constant_rates, [1e-2] * 5)
    np.testing.assert_allclose(decayed_rates, [1e-2, 1e-2 * 2 / 3, 1e-2 / 3, 0.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(floored_rates, [1e-2, 1e-2 * 2 / 3, 5e-3, 5e-3, 5e-3], rtol=1e-6)
    actor = lambda p: p.actor["actor"]
    # the first update is the same whatever the decay; from the 4th on the decayed actor stays put
    chex.assert_trees_all_equal(actor(decayed[1]), actor(constant[1]), actor(floored[1]))
    chex.assert_trees_all_equal(floored[2], decayed[2])  # the floor changes nothing before the line meets it
    chex.assert_trees_all_equal(actor(decayed[3]), actor(decayed[4]), actor(decayed[5]))
    moved = lambda a, b: max(float(jnp.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert moved(actor(constant[3]), actor(constant[5])) > 0
    assert moved(decayed[3].nu, decayed[5].nu) > 0
    assert moved(actor(floored[4]), actor(floored[5])) > 0  # a floor keeps the policy following nu


def test_a_negative_actor_rate_decay_is_refused_by_name():
    with pytest.raises(ValueError, match=r"valuedice Hparams.actor_lr_decay = -1.0: .* >= 0"):
        validate.check_hparams(vd.Hparams(actor_lr_decay=-1.0), "valuedice")


@pytest.mark.parametrize("floor", [-0.1, 1.5])
def test_an_actor_rate_floor_outside_zero_one_is_refused_by_name(floor):
    with pytest.raises(ValueError, match=rf"valuedice Hparams.actor_lr_floor = {floor}"):
        validate.check_hparams(vd.Hparams(actor_lr_floor=floor), "valuedice")


def test_continuous_entropy_is_minus_the_log_prob_of_the_sampled_squashed_action():
    """policy_value's entropy for a tanh-Gaussian is -log pi(a|s) at the very action it fed to
    nu, with pi the squashed density on the env's bounds (pendulum: [-2, 2])."""
    env = envs.make("pendulum")
    cfg = vd.Config(hidden=(16,))
    spec = vd.policy_spec(cfg, env)
    pi = {**spec.init(jax.random.PRNGKey(0)), "obs_norm": pol.ObsNorm.create(3)}
    obs = jnp.array([[1.0, 0.0, 0.5, 0.0], [0.0, 1.0, -3.0, 0.0]])  # two states, absorbing flag 0
    _, features, entropy = vd.policy_value(cfg, env, lambda x: x.sum(-1), pi, obs, jax.random.PRNGKey(3))
    mean, log_std = (np.asarray(x, np.float64)[:, 0] for x in pol.dist_params(spec, pi, obs[:, :3]))
    u = np.arctanh(np.asarray(features, np.float64)[:, 0])  # unit actions = tanh(u)
    std = np.exp(log_std)
    gauss = -0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    log_det = np.log(1 - np.tanh(u) ** 2) + math.log(2.0)  # da/du = (high - low) / 2 * (1 - tanh^2)
    np.testing.assert_allclose(entropy, -(gauss - log_det), rtol=1e-3, atol=1e-3)


def test_entropy_bonus_keeps_the_squashed_policy_wide_without_driving_it_to_the_bounds():
    """ent_coef (not in the paper) adds -ent_coef * H(pi) at the replay next states to the actor's
    loss. J alone narrows the policy; with the bonus its entropy ends higher, while the spread
    stays well inside its clip (an unsquashed Gaussian's entropy as the bonus ran log_std to
    LOG_STD_MAX, where a tanh-Gaussian puts almost all its mass at the action bounds)."""
    env = envs.make("pendulum")
    cfg = vd.Config(hidden=(16,), batch_size=32)
    expert, replay = _fixed_batches(env, cfg)
    learner = vd.learner(cfg, env)
    entropy, log_std = {}, {}
    for coef in (0.0, 1.0):
        hp = vd.Hparams(nu_lr=1e-2, actor_lr=1e-2, grad_penalty=0.0, ortho_reg=0.0, ent_coef=coef)
        update = jax.jit(lambda p, k: learner.update(p, expert, replay, expert.obs, k, hp))
        params = learner.init(jax.random.PRNGKey(0), hp, pol.ObsNorm.create(3))
        for i in range(60):
            params, metrics = update(params, jax.random.PRNGKey(i))
        obs = op.env_obs(replay.next_obs, cfg.absorbing)
        log_std[coef] = float(np.mean(np.asarray(pol.dist_params(learner.spec, params.actor, obs)[1])))
        # the squashed policy's entropy at the replay next states, averaged over 64 samples each
        keys = jax.random.split(jax.random.PRNGKey(99), 64)
        entropy[coef] = float(jnp.mean(jax.vmap(lambda k: vd.policy_value(
            cfg, env, lambda x: x.sum(-1), params.actor, replay.next_obs, k)[2])(keys)))
    assert entropy[1.0] > entropy[0.0] + 0.1, entropy
    assert log_std[1.0] < nets.LOG_STD_MAX - 1.0, log_std


@pytest.fixture(scope="module")
def pendulum_setup():
    env = envs.make("pendulum")
    d, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    cfg = vd.Config(num_envs=2, learning_starts=4, buffer_size=64, **TINY)
    return env, data.to_jax(data.select_trajectories(d, 1)), vd.make_train(cfg, env)


@ALONE
def test_vmapped_runs_equal_single_runs_online(pendulum_setup, alone):
    env, demos, trainer = pendulum_setup
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    hp = vd.Hparams(actor_lr=jnp.array([1e-3, 3e-4, 1e-4]))
    batched = check_run_is_independent_of_batch(trainer, keys, hp, 4, alone=alone, demos=demos)  # updates from step 2
    assert trainer.env_steps_per_step == 2 and np.all(np.asarray(batched.state.interaction.env_steps) == 8)
    assert np.isfinite(batched.metrics["dv_objective"]).all()
    assert trainer.policy_spec.kind == "tanh_gaussian"
    assert set(jax.vmap(trainer.policy)(batched.state)) == {"actor", "obs_norm"}


def test_policy_average_is_the_moving_average_of_the_kept_iterates_and_leaves_training_alone(pendulum_setup):
    env, demos, _ = pendulum_setup
    tau, hp = 0.25, vd.Hparams(actor_lr=1e-2)
    runs = {}
    for average in (None, tau):
        cfg = vd.Config(num_envs=2, learning_starts=4, buffer_size=64, policy_average=average, **TINY)
        trainer = vd.make_train(cfg, env)
        step = jax.jit(trainer.step)
        state = jax.jit(trainer.init)(jax.random.PRNGKey(3), demos, hp)
        states = [state]
        for _ in range(4):  # 2 env steps each: no update is kept at steps 1, updates are kept from step 2
            state, _ = step(state, demos, hp)
            states.append(state)
        runs[average] = (trainer, states)
    plain, averaged = runs[None][1], runs[tau][1]
    # Training is unchanged: the learner and the interaction match the run without the average.
    for a, b in zip(plain, averaged):
        assert b.average is not None and a.average is None
        jax.tree.map(np.testing.assert_array_equal, (a.learner, a.interaction), (b.learner, b.interaction))
    # The average by hand, in float64: it starts at the init policy and does not move while no
    # update is kept (step 1: 2 env steps < learning_starts 4); then avg <- avg + tau (theta - avg).
    current = [jax.tree.map(lambda x: np.asarray(x, np.float64), s.learner.actor["actor"]) for s in averaged]
    diff = lambda a, b: max(jax.tree.leaves(jax.tree.map(lambda x, y: np.abs(x - y).max(), a, b)))
    assert diff(current[1], current[0]) == 0 and diff(current[2], current[1]) > 1e-4  # kept from step 2 on
    by_hand = current[0]
    for i in range(1, 5):
        if i >= 2:
            by_hand = jax.tree.map(lambda avg, x: avg + tau * (x - avg), by_hand, current[i])
        jax.tree.map(lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7),
                     averaged[i].average["actor"], by_hand)
    trainer = runs[tau][0]
    jax.tree.map(np.testing.assert_array_equal, trainer.policy(averaged[-1]), averaged[-1].average)
    last = averaged[-1]
    jax.tree.map(np.testing.assert_array_equal, last.average["obs_norm"], last.learner.actor["obs_norm"])
    assert diff(averaged[-1].average["actor"], current[-1]) > 1e-4  # the average lags the current policy
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="policy_average"):
            vd.Config(policy_average=bad)


def test_tail_average_is_the_plain_mean_of_the_iterates_after_its_start(pendulum_setup):
    env, demos, _ = pendulum_setup
    tau, start, hp = 0.25, 2, vd.Hparams(actor_lr=1e-2)
    cfg = vd.Config(num_envs=2, learning_starts=4, buffer_size=64, policy_average=tau,
                    policy_average_from=start, **TINY)
    trainer = vd.make_train(cfg, env)
    plain = vd.make_train(dataclasses.replace(cfg, policy_average=None, policy_average_from=None), env)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(5), demos, hp)
    other = jax.jit(plain.init)(jax.random.PRNGKey(5), demos, hp)
    step, plain_step, states = jax.jit(trainer.step), jax.jit(plain.step), [state]
    for _ in range(6):  # 1 update per step, kept from step 2 on: kept updates 0, 1, 2, ..., 5
        state, _ = step(state, demos, hp)
        other, _ = plain_step(other, demos, hp)
        states.append(state)
    jax.tree.map(np.testing.assert_array_equal, state.learner, other.learner)  # training is unchanged
    assert [int(s.kept_updates) for s in states] == [0, 0, 1, 2, 3, 4, 5]
    it = [jax.tree.map(lambda x: np.asarray(x, np.float64), s.learner.actor["actor"]) for s in states]
    ema = lambda avg, x: jax.tree.map(lambda a, b: a + tau * (b - a), avg, x)
    mean = lambda xs: jax.tree.map(lambda *a: sum(a) / len(a), *xs)
    # kept updates 1, 2 (steps 2, 3) fold in at tau; the 3rd (step 4) restarts the average at the
    # iterate, and from then on it is the plain mean of iterates 4.. (steps 4, 5, 6).
    want = {1: it[0], 2: ema(it[0], it[2]), 3: ema(ema(it[0], it[2]), it[3]), 4: it[4], 5: mean(it[4:6]),
            6: mean(it[4:7])}
    for i, w in want.items():
        jax.tree.map(lambda got, w: np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-7),
                     states[i].average["actor"], w)
    assert np.isclose(float(op.average_rate(cfg, jnp.asarray(start + 5))), 0.2)
    assert np.isclose(float(op.average_rate(cfg, jnp.asarray(start))), tau)
    for bad in (dict(policy_average_from=-1, policy_average=0.1), dict(policy_average_from=10)):
        with pytest.raises(ValueError, match="policy_average_from"):
            vd.Config(**bad)


def test_the_tail_mean_follows_a_drift_below_float32_resolution():
    # Iterates near 1 drifting by 1e-3 over 100k updates (a late tail at a decayed rate): each
    # 1/j share of a step lies below half an ulp of the mean, so a plain float32 running mean
    # never moves; the compensated one must land on the float64 mean of the same iterates.
    n = 100_000
    drift = (1.0 + 1e-3 * np.arange(1, n + 1) / n).astype(np.float32)
    xs = {"w": jnp.stack([drift, -drift / 3], 1), "count": jnp.arange(n)}

    def fold(carry, xj):
        (avg, err), j = carry
        return (op.fold_into_average(avg, err, xj, 1.0 / j), j + 1.0), None

    start = {"w": jnp.zeros(2), "count": jnp.zeros((), jnp.int32)}
    ((got, _), _), _ = jax.lax.scan(fold, ((start, jax.tree.map(jnp.zeros_like, start)), 1.0), xs)
    want = np.stack([drift, -drift / 3], 1).astype(np.float64).mean(0)
    np.testing.assert_allclose(np.asarray(got["w"], np.float64), want, rtol=0, atol=2e-7)
    assert int(got["count"]) == n - 1  # a non-float leaf takes the latest value

    def plain(avg, xj_j):
        xj, j = xj_j
        return avg + (xj - avg) / j, None
    naive = jax.lax.scan(plain, jnp.zeros(2), (xs["w"], jnp.arange(1, n + 1, dtype=jnp.float32)))[0]
    assert np.abs(np.asarray(naive, np.float64) - want).max() > 1e-4  # what the compensation is for


def test_offline_takes_an_expert_and_replay_pair_per_run(cartpole):
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), cartpole)
    trainer = vd.make_train(vd.Config(offline=True, **TINY), cartpole)
    assert trainer.env_steps_per_step == 0
    expert = data.to_jax(data.stack_subsets(d, (1, 2)))
    replay = data.to_jax(data.stack_subsets(d, (3, 3)))
    pair = vd.ExpertAndReplay(expert, replay)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    res = loop.run(trainer, keys, vd.Hparams(), 2, demos=pair, demos_axis=0)
    assert res.state.interaction is None and res.env_steps == 0
    assert np.isfinite(res.metrics["dv_objective"]).all() and res.metrics["dv_objective"].shape == (2, 2)
    with pytest.raises(TypeError, match="offline ValueDICE needs demos=ExpertAndReplay"):
        loop.run(trainer, keys, vd.Hparams(), 1, demos=data.to_jax(data.select_trajectories(d, 1)))


def test_nu_sees_observations_standardised_by_the_policy_statistics(cartpole):
    cfg = vd.Config(**TINY)
    spec = vd.policy_spec(cfg, cartpole)
    norm = pol.ObsNorm(jnp.array([1.0, 0.0, -1.0, 0.0]), jnp.array([4.0, 1.0, 0.25, 1.0]), jnp.ones(()))
    pi = {**spec.init(jax.random.PRNGKey(0)), "obs_norm": norm}
    w = jnp.arange(1.0, 8.0)  # nu linear in (obs 4 + indicator 1, one-hot 2)
    obs = jnp.array([[3.0, 2.0, 0.0, 1.0, 0.0], [5.0, 5.0, 5.0, 5.0, 1.0]])  # an env state, the absorbing state
    value, _, _ = vd.policy_value(cfg, cartpole, lambda x: x @ w, pi, obs, jax.random.PRNGKey(1))
    probs = np.asarray(jax.nn.softmax(pol.dist_params(spec, pi, obs[:, :4])))
    # row 0: ((3 - 1) / 2, 2, (0 + 1) / 0.5, 1) . (1, 2, 3, 4) = 1 + 4 + 6 + 4; row 1: absorbing, env part 0
    want = [15.0 + probs[0, 0] * 6 + probs[0, 1] * 7, 5.0]
    np.testing.assert_allclose(value, want, rtol=1e-5)


@pytest.mark.parametrize("clip", [None, 10.0])
def test_states_beyond_the_demos_spread_are_not_clipped_by_default(cartpole, clip):
    # The expert's statistics can be narrow (pendulum's upright demo: cos theta's std 0.0044);
    # off-demo states then lie hundreds of standard units out, and a clip at 10 would make
    # them all one point to nu and to the policy.
    cfg = vd.Config(**TINY) if clip is None else vd.Config(**TINY, obs_clip=clip)
    spec = vd.policy_spec(cfg, cartpole)
    assert spec.obs_clip == clip
    norm = pol.ObsNorm(jnp.array([1.0, 0.0, -1.0, 0.0]), jnp.array([1e-4, 1.0, 1.0, 1.0]), jnp.ones(()))
    pi = {**spec.init(jax.random.PRNGKey(0)), "obs_norm": norm}
    w = jnp.arange(1.0, 8.0)  # nu linear in (obs 4 + indicator 1, one-hot 2)
    obs = jnp.array([[3.0, 0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0, 0.0]])
    value, _, _ = vd.policy_value(cfg, cartpole, lambda x: x @ w, pi, obs, jax.random.PRNGKey(1))
    probs = np.asarray(jax.nn.softmax(pol.dist_params(spec, pi, obs[:, :4])))
    # coordinate 0: (3 - 1) / 0.01 = 200 and (5 - 1) / 0.01 = 400 standard units (10 each when clipped);
    # coordinate 2: (0 + 1) / 1 = 1, times w 3
    z0 = np.array([200.0, 400.0]) if clip is None else np.array([10.0, 10.0])
    np.testing.assert_allclose(value, z0 + 3.0 + probs @ np.array([6.0, 7.0]), rtol=1e-4)
    if clip is not None:
        np.testing.assert_array_equal(probs[0], probs[1])
    else:
        assert not np.allclose(probs[0], probs[1])
    with pytest.raises(ValueError, match="obs_clip must be None or > 0"):
        vd.Config(**TINY, obs_clip=-1.0)


def test_trainer_takes_the_statistics_of_the_real_expert_rows(cartpole):
    d, _ = data.load_demos(experts.resolve_demos("cartpole"), cartpole)
    demos = data.to_jax(data.select_trajectories(d, 2))
    real = np.asarray(demos.mask) > 0
    # six padding rows (mask 0) with wild observations: they must not enter the statistics
    padded = jax.tree.map(lambda x: jnp.concatenate([x, x[:6]]), demos)
    padded = padded._replace(obs=padded.obs.at[-6:].set(100.0), mask=padded.mask.at[-6:].set(0.0))
    obs = np.asarray(demos.obs, np.float64)[real]
    for normalize, mean, std in ((True, obs.mean(0), obs.std(0) + 1e-3), (False, np.zeros(4), np.ones(4))):
        trainer = vd.make_train(vd.Config(**TINY, normalize_obs=normalize), cartpole)
        norm = trainer.policy(trainer.init(jax.random.PRNGKey(0), padded, vd.Hparams()))["obs_norm"]
        np.testing.assert_allclose(norm.mean, mean, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.sqrt(norm.var), std, rtol=1e-4)


@pytest.mark.slow  # a learning run; the objective's tests above stay in the suite
def test_offline_cartpole_from_four_trajectories_every_seed(cartpole):
    """Offline ValueDICE (4 expert trajectories + eps-random episodes), 2 seeds, 1000 updates (~1 min).

    In raw units the gradient penalty leaves nu too flat in cartpole's pole angle (the demos
    vary it by ~0.01 rad): the policy then scored ~0.1-0.2 normalised."""
    from jaxil.data import mixed

    d, _ = data.load_demos(experts.resolve_demos("cartpole"), cartpole)
    replay = data.to_jax(mixed.non_expert("cartpole").demos)
    pair = vd.ExpertAndReplay(data.to_jax(data.select_trajectories(d, 4)), replay)
    cfg = vd.Config(offline=True, num_updates=100)  # 256x256, batch 256, expert statistics
    trainer = vd.make_train(cfg, cartpole)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    res = loop.run(trainer, keys, vd.Hparams(actor_lr=1e-4), 10, demos=pair)
    returns = experts.evaluate_seeds(cartpole, trainer, res.state, jax.random.PRNGKey(1), num_episodes=8)
    scores = experts.normalize("cartpole", returns.mean(1))
    assert scores.min() >= 0.8, scores


def test_brax_defaults_collect_as_the_papers_code():
    """What `jaxil train valuedice --env hopper` runs: the setting measured on hopper."""
    from jaxil import algos
    cfg, hp, steps = algos.defaults("valuedice", "hopper")
    assert (cfg.behavior_noise, hp.actor_lr, cfg.learning_starts) == (0.1, 1e-5, 2000)
    assert cfg.num_updates == cfg.env_steps_per_step == 4 and steps * cfg.env_steps_per_step == 60_000
    assert algos.defaults("valuedice", "cartpole")[0].behavior_noise is None


PENDULUM_RESULT = "offline_imitation-2026-12-06-cpu-online-valuedice-p0replay-avg-actor3e-5-200k-vs-gail.json"


def test_pendulum_defaults_are_the_setting_of_the_measured_8_seed_run():
    """`jaxil train valuedice --env pendulum` runs exactly the setting (config, hparams and budget) whose
    8-seed result its comment cites; the offline mode keeps the shared defaults."""
    import json
    import os
    from jaxil import algos
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "results", PENDULUM_RESULT)
    with open(path) as f:
        row = next(r for r in json.load(f)["online"] if r["method"] == "valuedice_online")
    cfg, hp, steps = algos.defaults("valuedice", "pendulum")
    # config fields added after the run (the last ones) must be at the values that reproduce it
    assert repr(cfg).replace(", policy_average_from=None)", ")") == row["setting"]["config"]
    saved = row["setting"]["hparams"]
    assert {k: v for k, v in hp._asdict().items() if k in saved} == pytest.approx(saved)
    # fields added after the run must be at the values that reproduce it (actor_lr_decay 0: constant)
    added = {k: v for k, v in hp._asdict().items() if k not in saved}
    assert added == {k: getattr(vd.Hparams(), k) for k in added} and set(added) <= {"actor_lr_decay", "actor_lr_floor"}
    assert (steps, steps * cfg.env_steps_per_step) == (row["setting"]["trainer_steps"], row["setting"]["env_steps"])
    assert (row["seeds"], row["trajectories"]) == (8, 1)
    offline, offline_hp, _ = algos.defaults("valuedice", "pendulum", offline=True)
    assert (offline.hidden, offline.policy_average, offline_hp.actor_lr) == ((256, 256), None, vd.Hparams().actor_lr)
