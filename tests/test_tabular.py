"""Tabular MDP generators, the env adapter and trajectory sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import envs
from jaxil.algos import maxent_irl as mi
from jaxil.envs import tabular as tb


def test_gridworld_dynamics_by_hand():
    mdp = tb.gridworld((2, 3), slip=0.5, walls=[(0, 1)], goal=(1, 2), horizon=4)
    tr = np.asarray(mdp.transitions)
    assert tr.shape == (6, 5, 6) and mdp.horizon == 4
    # From (0, 0): up/left/stay stay put, right runs into the wall, down reaches (1, 0).
    # Intended move w.p. 0.5 + 0.5/5, every other move w.p. 0.5/5.
    stay_moves = 4  # stay, up, left, right(wall)
    np.testing.assert_allclose(tr[0, 2, 3], 0.5 + 0.1)
    np.testing.assert_allclose(tr[0, 2, 0], 0.1 * stay_moves)
    np.testing.assert_allclose(tr[0, 4, 0], 0.5 + 0.1 * stay_moves)
    np.testing.assert_allclose(tr[0, 4, 3], 0.1)
    assert np.all(np.delete(tr, 1, axis=0)[:, :, 1] == 0)  # nothing enters the wall
    np.testing.assert_allclose(tr.sum(-1), 1.0)
    np.testing.assert_array_equal(np.asarray(mdp.reward), [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(np.asarray(mdp.initial), [1, 0, 0, 0, 0, 0])
    assert mdp.features.shape == (6, 6)
    xy = tb.gridworld((2, 3), features="xy").features
    np.testing.assert_allclose(np.asarray(xy[5]), [1.0, 1.0])


def test_cliff_world_layout_and_wind():
    mdp = tb.cliff_world(width=5, height=3, fail_p=0.25)
    r = np.asarray(mdp.reward).reshape(3, 5)
    np.testing.assert_array_equal(r[0], [-1, -10, -10, -10, 10])
    assert (r[1:] == -1).all()
    tr = np.asarray(mdp.transitions)
    # From (row 1, col 1), action 3 = (+1, +1) -> (2, 2); wind pushes one row up -> (1, 2).
    np.testing.assert_allclose(tr[1 * 5 + 1, 3, 2 * 5 + 2], 0.75)
    np.testing.assert_allclose(tr[1 * 5 + 1, 3, 1 * 5 + 2], 0.25)
    # Action 0 = (-1, -1) from (1, 1) -> (0, 0); the wind's extra row is clamped.
    np.testing.assert_allclose(tr[1 * 5 + 1, 0, 0], 1.0)
    assert np.asarray(mdp.initial)[0] == 1.0


def test_cliff_world_equals_seals():
    cliff = pytest.importorskip("seals.diagnostics.cliff_world")
    for w, h, xy in [(7, 4, False), (5, 3, True)]:
        ref = cliff.CliffWorldEnv(width=w, height=h, horizon=9, use_xy_obs=xy)
        mine = tb.cliff_world(w, h, horizon=9, features="xy" if xy else "onehot")
        np.testing.assert_allclose(np.asarray(mine.transitions), ref.transition_matrix, atol=1e-12)
        np.testing.assert_allclose(np.asarray(mine.reward), ref.reward_matrix)
        np.testing.assert_allclose(np.asarray(mine.initial), ref.initial_state_dist)
        np.testing.assert_allclose(np.asarray(mine.features), ref.observation_matrix, atol=1e-6)


@pytest.mark.parametrize("discrete", [False, True])
def test_objectworld_features_and_reward_against_loops(discrete):
    n, n_obj, n_col = 6, 5, 3
    key = jax.random.PRNGKey(4)
    mdp = tb.objectworld(key, n, n_objects=n_obj, n_colors=n_col, discrete_features=discrete)
    cells, outer, inner = (np.asarray(x) for x in tb.objectworld_objects(key, n, n_objects=n_obj, n_colors=n_col))
    assert len(set(cells.tolist())) == n_obj
    feats = np.asarray(mdp.features)
    reward = np.asarray(mdp.reward)
    for s in range(n * n):
        r, c = divmod(s, n)
        dists = []
        for colors in (outer, inner):
            for col in range(n_col):
                ds = [np.hypot(r - k // n, c - k % n) for k, kc in zip(cells, colors) if kc == col]
                dists.append(min(ds) if ds else 2.0 * n)
        if discrete:
            want = [float(d <= t) for d in dists for t in range(1, n + 1)]
        else:
            want = dists
        np.testing.assert_allclose(feats[s], want, atol=1e-6)
        near0, near1 = dists[0] <= 3, dists[1] <= 2
        assert reward[s] == (1.0 if near0 and near1 else -1.0 if near0 else 0.0)
    assert mdp.transitions.shape == (n * n, 5, n * n)
    np.testing.assert_allclose(np.asarray(mdp.initial), 1.0 / (n * n))


def test_random_mdp_branching_and_linear_reward():
    mdp = tb.random_mdp(jax.random.PRNGKey(1), 12, 3, branching=3, n_features=5)
    tr = np.asarray(mdp.transitions)
    assert ((tr > 0).sum(-1) == 3).all()
    np.testing.assert_allclose(tr.sum(-1), 1.0, rtol=1e-5)
    feats, r = np.asarray(mdp.features, np.float64), np.asarray(mdp.reward, np.float64)
    _, res, _, _ = np.linalg.lstsq(feats, r, rcond=None)
    assert res.size == 0 or res[0] < 1e-8  # the reward is linear in the features
    batch = jax.vmap(lambda k: tb.random_mdp(k, 12, 3))(jax.random.split(jax.random.PRNGKey(0), 3))
    assert batch.transitions.shape == (3, 12, 3, 12) and batch.batch_shape == (3,)
    tb.check_mdp(batch)
    assert not np.allclose(batch.transitions[0], batch.transitions[1])


def test_stack_and_tree():
    a, b = tb.gridworld(3), tb.gridworld(3, slip=0.2)
    batch = tb.stack([a, b])
    assert batch.transitions.shape == (2, 9, 5, 9) and batch.horizon == a.horizon
    leaves, treedef = jax.tree.flatten(a)
    assert len(leaves) == 5  # horizon is static metadata
    with pytest.raises(ValueError, match="horizon"):
        tb.stack([a, tb.gridworld(3, horizon=3)])
    with pytest.raises(ValueError, match="shapes"):
        tb.stack([a, tb.gridworld(4, horizon=a.horizon)])


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="slip"):
        tb.gridworld(3, slip=1.5)
    with pytest.raises(ValueError, match="goal"):
        tb.gridworld(3, walls=[(2, 2)])
    with pytest.raises(ValueError, match="outside"):
        tb.gridworld(3, walls=[(5, 0)])
    with pytest.raises(ValueError, match="features"):
        tb.gridworld(3, features="rgb")
    with pytest.raises(ValueError, match="sum to 1"):
        tb.make_mdp(np.ones((2, 1, 2)), [1, 0], np.eye(2), [0, 1], horizon=2)
    with pytest.raises(ValueError, match="horizon"):
        tb.make_mdp(np.ones((2, 1, 2)) / 2, [1, 0], np.eye(2), [0, 1], horizon=0)
    with pytest.raises(ValueError, match="discount"):
        tb.make_mdp(np.ones((2, 1, 2)) / 2, [1, 0], np.eye(2), [0, 1], horizon=2, discount=1.5)
    with pytest.raises(ValueError, match="reward must have shape"):
        tb.make_mdp(np.ones((2, 1, 2)) / 2, [1, 0], np.eye(2), [0, 1, 2], horizon=2)
    with pytest.raises(ValueError, match="NaN"):
        tb.make_mdp(np.ones((2, 1, 2)) / 2, [1, 0], np.eye(2), [0, np.nan], horizon=2)
    with pytest.raises(ValueError, match="branching"):
        tb.random_mdp(jax.random.PRNGKey(0), 4, 2, branching=5)
    with pytest.raises(ValueError, match="bad option"):
        envs.make("gridworld", wals=[(1, 1)])
    with pytest.raises(ValueError, match="no seed"):
        envs.make("cliff_world", seed=3)
    with pytest.raises(ValueError, match="obs"):
        envs.make("cliff_world", obs="pixels")


def test_env_adapter_follows_the_mdp():
    assert {"gridworld", "cliff_world", "objectworld", "random_mdp"} <= set(envs.names())
    env = envs.make("random_mdp", seed=2, n_states=5, n_actions=2, branching=2)
    mdp = env.core.mdp
    spec = env.spec
    assert (spec.obs_size, spec.action_size, spec.discrete, spec.max_episode_steps) == (5, 2, True, mdp.horizon)
    n = 4000
    state = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))
    s0 = np.asarray(state.obs.argmax(-1))
    np.testing.assert_allclose(np.bincount(s0, minlength=5) / n, mdp.initial, atol=0.03)
    actions = jnp.asarray(np.arange(n) % 2, jnp.int32)
    nxt = jax.vmap(env.step)(state, actions)
    np.testing.assert_allclose(np.asarray(nxt.reward), np.asarray(mdp.reward)[s0], rtol=1e-6)
    s1 = np.asarray(nxt.next_obs.argmax(-1))
    for s in range(5):
        for a in range(2):
            sel = (s0 == s) & (np.arange(n) % 2 == a)
            if sel.sum() > 200:
                freq = np.bincount(s1[sel], minlength=5) / sel.sum()
                np.testing.assert_allclose(freq, mdp.transitions[s, a], atol=0.1)


def test_env_truncates_at_horizon_and_feature_obs():
    env = envs.make("objectworld", seed=1, grid_size=5, obs="features", horizon=3)
    mdp = env.core.mdp
    assert env.spec.obs_size == mdp.n_features and env.spec.max_episode_steps == 3
    state = env.reset(jax.random.PRNGKey(0))
    truncs = []
    for _ in range(3):
        state = env.step(state, jnp.int32(4))
        truncs.append(bool(state.truncated))
        assert not bool(state.terminated)
    assert truncs == [False, False, True]
    gaps = np.abs(np.asarray(mdp.features) - np.asarray(state.next_obs)).sum(-1)
    assert gaps.min() < 1e-5  # the observation is the features of the state reached


def test_sampled_trajectories_match_occupancy():
    mdp = tb.random_mdp(jax.random.PRNGKey(3), 6, 2, horizon=4)
    pi = mi.mce_partition(mdp.transitions, mdp.reward, mdp.horizon)[2]
    tr = jax.jit(tb.sample_trajectories, static_argnums=3)(jax.random.PRNGKey(0), mdp, pi, 20000)
    assert tr.states.shape == (20000, 5) and tr.actions.shape == (20000, 4)
    d, _ = mi.mce_occupancy(mdp.transitions, mdp.initial, pi)
    emp = np.stack([np.bincount(np.asarray(tr.states[:, t]), minlength=6) / 20000 for t in range(5)])
    np.testing.assert_allclose(emp, np.asarray(d), atol=0.015)
