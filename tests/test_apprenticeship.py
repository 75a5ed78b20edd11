"""Apprenticeship learning (Abbeel & Ng 2004): projection and max-margin."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil.algos import apprenticeship as al
from jaxil.algos import maxent_irl as mi
from jaxil.envs import tabular as tb


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _expert(mdp, scale):
    return mi.mce_partition(mdp.transitions, scale * mdp.reward, mdp.horizon, mdp.discount)[2]


def test_feature_expectations_match_loop():
    mdp = tb.random_mdp(jax.random.PRNGKey(0), 5, 2, n_features=3, horizon=4, discount=0.9)
    pi = _expert(mdp, 1.0)
    d, _ = mi.mce_occupancy(mdp.transitions, mdp.initial, pi)
    feats, d = np.asarray(mdp.features), np.asarray(d)
    ref = sum(0.9**t * d[t, s] * feats[s] for t in range(4) for s in range(5))
    np.testing.assert_allclose(al.feature_expectations(mdp, pi), ref, atol=1e-12)
    # The linear reward's expected return is w . mu.
    w = jnp.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(mi.expected_return(mdp, pi, mdp.features @ w), ref @ w, atol=1e-12)
    states = tb.sample_trajectories(jax.random.PRNGKey(1), mdp, pi, 20000).states
    np.testing.assert_allclose(al.demo_feature_expectations(mdp, states), ref, atol=0.05)


def test_project_simplex_and_min_norm_point():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 9):
        v = rng.normal(size=n) * 3
        p = np.asarray(al.project_simplex(jnp.asarray(v)))
        assert abs(p.sum() - 1) < 1e-12 and p.min() >= 0
        # Optimality: no other simplex point (random or vertex) is closer to v.
        cands = np.concatenate([rng.dirichlet(np.ones(n), 2000), np.eye(n)])
        assert np.linalg.norm(p - v) <= np.linalg.norm(cands - v, axis=1).min() + 1e-12
    # Two points: the closed-form nearest point of the segment to the origin.
    a, b = np.array([2.0, 1.0]), np.array([-1.0, 2.0])
    lam = np.asarray(al.min_norm_point(jnp.asarray(np.stack([a, b]))))
    t = np.clip(b @ (b - a) / ((b - a) @ (b - a)), 0, 1)
    np.testing.assert_allclose(lam @ np.stack([a, b]), t * a + (1 - t) * b, atol=1e-8)
    # Origin inside the hull: distance 0; duplicate rows do not matter.
    pts = jnp.asarray([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, 0.0]])
    lam = al.min_norm_point(pts, iters=2000)
    assert float(jnp.linalg.norm(lam @ pts)) < 1e-6


def test_mixture_policy_has_the_mixture_feature_expectations():
    mdp = tb.random_mdp(jax.random.PRNGKey(3), 6, 3, n_features=4, horizon=5)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    pols = jax.vmap(lambda k: jax.nn.softmax(3 * jax.random.normal(k, (5, 6, 3)), -1))(keys)
    weights = jnp.array([0.2, 0.5, 0.3])
    mixed = al.mixture_policy(mdp, pols, weights)
    mus = jax.vmap(partial(al.feature_expectations, mdp))(pols)
    np.testing.assert_allclose(al.feature_expectations(mdp, mixed), weights @ mus, atol=1e-10)


def _linear_reward(mdp, w):
    return mdp.replace(reward=mdp.features @ jnp.asarray(w))


@pytest.mark.parametrize("method", al.METHODS)
def test_matches_expert_feature_expectations(method):
    cases = [
        (tb.random_mdp(jax.random.PRNGKey(0), 16, 4, n_features=4), 4.0),
        (_linear_reward(tb.gridworld(5, slip=0.1, features="xy", horizon=10), [1.0, -0.5]), 5.0),
    ]
    cfg = al.Config(method=method, iterations=60)
    for mdp, scale in cases:
        expert = _expert(mdp, scale)
        data = al.expert_al_data(mdp, expert)
        res = jax.jit(partial(al.train, cfg))(jax.random.PRNGKey(0), data, al.Hparams())
        mu = al.feature_expectations(mdp, res.policy)
        gap = float(jnp.linalg.norm(mu - data.expert_features))
        assert gap <= 0.01, (method, gap)
        np.testing.assert_allclose(mu, res.state.mu_bar, atol=1e-8)
        # One iteration in, the mixture is still far away: the check can fail.
        assert float(res.metrics["distance"][0]) > 0.05
        # Rewards linear in the features: matching mu matches the expert's return.
        assert abs(float(mi.expected_return(mdp, res.policy) - mi.expected_return(mdp, expert))) < 0.05
        assert res.reward.shape == (mdp.n_states,)


def test_max_margin_on_cliff_world_and_projection_margin_shrinks():
    mdp = tb.cliff_world(features="xy")
    data = al.expert_al_data(mdp, _expert(mdp, 1.0))
    mm = al.train(al.Config(method="max_margin", iterations=20), jax.random.PRNGKey(0), data)
    assert float(mm.metrics["distance"][-1]) <= 0.01
    proj = al.train(al.Config(method="projection", iterations=20), jax.random.PRNGKey(0), data)
    margins = np.asarray(proj.metrics["margin"])
    assert np.all(np.diff(margins) <= 1e-9) and margins[-1] < margins[0]
    # Max-margin projects onto the whole hull, so it is never farther than projection.
    assert float(mm.metrics["distance"][-1]) <= float(proj.metrics["distance"][-1]) + 1e-9


def test_vmap_over_seeds_and_mdps_equals_single_runs_and_eps_stops():
    cfg = al.Config(method="projection", iterations=8)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    # Run i: seed i on MDP i (same shapes), all in one vmapped program.
    mdps = jax.vmap(lambda k: tb.random_mdp(k, 8, 3, n_features=3, horizon=5))(keys)
    datas = jax.vmap(lambda m: al.expert_al_data(m, _expert(m, 2.0)))(mdps)
    batched = jax.jit(jax.vmap(partial(al.train, cfg), in_axes=(0, 0, None)))(keys, datas, al.Hparams())
    run = jax.jit(partial(al.train, cfg))
    for i in range(3):
        one = run(keys[i], jax.tree.map(lambda x: x[i], datas), al.Hparams())
        np.testing.assert_allclose(batched.policy[i], one.policy, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(batched.metrics["margin"][i], one.metrics["margin"], rtol=1e-9, atol=1e-12)
    data = jax.tree.map(lambda x: x[0], datas)
    other_seed = run(keys[1], data, al.Hparams())
    assert not np.allclose(other_seed.metrics["margin"][0], batched.metrics["margin"][0, 0])  # seeds matter
    # eps: the state freezes once the margin is reached (same compilation).
    eps = float(batched.metrics["margin"][0, 2])
    stopped = run(keys[0], data, al.Hparams(eps=eps))
    assert int(stopped.state.count) <= 4 and float(stopped.metrics["margin"][-1]) <= eps
    assert run._cache_size() == 1


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="method"):
        al.Config(method="svm")
    with pytest.raises(ValueError, match="iterations"):
        al.Config(iterations=0)
    mdp = tb.random_mdp(jax.random.PRNGKey(4), 8, 3, n_features=3, horizon=5)
    with pytest.raises(ValueError, match="expert_features"):
        al.train(al.Config(iterations=2), jax.random.PRNGKey(0), al.ALData(mdp, jnp.zeros(4)))
    with pytest.raises(ValueError, match="eps"):
        al.train(al.Config(iterations=2), jax.random.PRNGKey(0), al.ALData(mdp, jnp.zeros(3)), al.Hparams(eps=-1.0))
    with pytest.raises(ValueError, match="states must be"):
        al.demo_feature_expectations(mdp, jnp.zeros((3, 2), jnp.int32))
