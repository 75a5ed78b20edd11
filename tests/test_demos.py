import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs
from jaxil.data import DemosError, DemosMeta


def random_act(n):
    return lambda p, o, k: jax.random.randint(k, o.shape[:-1], 0, n)


@pytest.fixture(scope="module")
def cartpole_demos():
    env = envs.make("cartpole")
    demos, returns = data.collect(env, random_act(2), None, jax.random.PRNGKey(0), 6)
    return env, demos, DemosMeta(env.spec, tuple(returns), "random")


def test_collect_episode_structure(cartpole_demos):
    env, d, meta = cartpole_demos
    ep = np.asarray(d.episode)
    assert list(np.unique(ep)) == list(range(6))
    for e in range(6):
        rows = np.flatnonzero(ep == e)
        assert np.all(np.diff(rows) == 1)  # contiguous
        done = np.asarray(d.terminated[rows] | d.truncated[rows])
        assert done[-1] and not done[:-1].any()  # exactly one end, at the last row
        # next_obs[t] == obs[t+1] inside an episode
        np.testing.assert_array_equal(d.next_obs[rows[:-1]], d.obs[rows[1:]])
        assert meta.returns[e] == pytest.approx(float(d.reward[rows].sum()))
    assert d.action.dtype == jnp.int32 and d.obs.dtype == jnp.float32


def test_collect_returns_match_env_episode_return():
    env = envs.make("cartpole")
    act = random_act(2)
    demos, returns = data.collect(env, act, None, jax.random.PRNGKey(3), 1)
    state = env.reset(jax.random.split(jax.random.split(jax.random.PRNGKey(3))[0], 1)[0])
    keys = jax.random.split(jax.random.split(jax.random.PRNGKey(3))[1], env.spec.max_episode_steps)
    for k in keys:
        state = env.step(state, act(None, state.obs[None], k)[0])
        if state.done:
            break
    assert float(state.episode_return) == returns[0]


def test_pendulum_episodes_truncate_at_200():
    env = envs.make("pendulum")
    act = lambda p, o, k: jax.random.uniform(k, (*o.shape[:-1], 1), minval=-3, maxval=3)
    d, r = data.collect(env, act, None, jax.random.PRNGKey(1), 3)
    assert d.obs.shape == (600, 3) and d.action.shape == (600, 1)
    ends = np.flatnonzero(np.asarray(d.truncated))
    assert list(ends) == [199, 399, 599] and not np.asarray(d.terminated).any()
    assert float(np.abs(d.action).max()) <= 2.0  # clipped to the env's bounds


def test_save_load_round_trip_is_exact(tmp_path, cartpole_demos):
    env, d, meta = cartpole_demos
    path = data.save_demos(str(tmp_path / "demos.npz"), d, meta)
    assert os.path.exists(tmp_path / "demos.json")
    with np.load(path) as f:
        assert sorted(f.files) == sorted(["obs", "action", "next_obs", "reward", "terminated", "truncated", "episode"])
    d2, meta2 = data.load_demos(str(tmp_path / "demos"), env)
    assert meta2 == meta
    for a, b in zip(d, d2):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def hand_demos():
    # Two episodes: lengths 3 and 4, obs value = global row index.
    obs = np.arange(7, dtype=np.float32)[:, None]
    ep = np.array([0, 0, 0, 1, 1, 1, 1])
    trunc = np.array([0, 0, 1, 0, 0, 0, 1], bool)
    return data.make_demos(obs, np.zeros(7, np.int32), obs + 1, np.ones(7), np.zeros(7, bool), trunc, ep)


def test_subsample_by_hand():
    d = data.subsample(hand_demos(), every=2)
    assert list(np.asarray(d.obs[:, 0])) == [0, 2, 3, 5]
    d = data.subsample(hand_demos(), every=2, offset=1)
    assert list(np.asarray(d.obs[:, 0])) == [1, 4, 6]
    d = data.subsample(hand_demos(), every=3, key=jax.random.PRNGKey(0))
    assert set(np.asarray(d.episode)) == {0, 1}
    with pytest.raises(ValueError, match="offset"):
        data.subsample(hand_demos(), every=2, offset=2)


def test_select_and_pad_by_hand():
    d = data.select_trajectories(hand_demos(), 1)
    assert list(np.asarray(d.obs[:, 0])) == [0, 1, 2]
    d = data.select_trajectories(hand_demos(), 1, pad_to=5)
    assert d.obs.shape == (5, 1) and list(np.asarray(d.mask)) == [1, 1, 1, 0, 0]
    assert list(data.episode_returns(d)) == [3.0]  # padding does not count
    both = data.select_trajectories(hand_demos(), 2, pad_to=8)
    assert both.obs.shape == (8, 1) and np.asarray(both.mask).sum() == 7
    picked = data.select_trajectories(hand_demos(), 1, key=jax.random.PRNGKey(0))
    assert list(np.asarray(picked.episode)) == [0] * picked.obs.shape[0]
    with pytest.raises(ValueError, match="cannot select 3 trajectories: the demos hold 2"):
        data.select_trajectories(hand_demos(), 3)
    with pytest.raises(ValueError, match="pad_to=2 is smaller"):
        data.select_trajectories(hand_demos(), 1, pad_to=2)


@pytest.fixture()
def saved(tmp_path, cartpole_demos):
    env, d, meta = cartpole_demos
    return data.save_demos(str(tmp_path / "demos.npz"), d, meta), env, d, meta


def test_truncated_file_is_a_clear_error(saved):
    path, env, _, _ = saved
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) // 2])
    with pytest.raises(DemosError, match=r"demos\.npz: not a readable \.npz"):
        data.load_demos(path)


def test_nan_reports_array_and_row(saved):
    path, env, d, meta = saved
    obs = np.array(d.obs)
    obs[7, 2] = np.nan
    arrays = {k: np.asarray(v) for k, v in d._asdict().items() if k != "mask"}
    arrays["obs"] = obs
    np.savez(path, **arrays)
    with pytest.raises(DemosError, match=r"non-finite value in 'obs' at row 7 \(episode 0\)"):
        data.load_demos(path)


def test_wrong_obs_size_for_env(tmp_path, cartpole_demos):
    env, d, meta = cartpole_demos
    pend = envs.make("pendulum").spec
    with pytest.raises(DemosError, match=r"'obs' has shape \(\d+, 4\), expected \(\d+, 3\)"):
        data.save_demos(str(tmp_path / "x.npz"), d, DemosMeta(pend, meta.returns))


def test_env_mismatch(saved):
    path, *_ = saved
    with pytest.raises(DemosError, match="recorded on 'cartpole' but the env is 'pendulum'"):
        data.load_demos(path, envs.make("pendulum"))
    with pytest.raises(DemosError, match="action_size differs: demos have 2, env 'cartpole' has 3"):
        data.check_env(envs.make("cartpole").spec, envs.make("acrobot").spec.__class__(
            **{**envs.make("cartpole").spec.__dict__, "action_size": 3}))


def test_empty_demos(tmp_path, cartpole_demos):
    env, d, meta = cartpole_demos
    empty = data.make_demos(*(np.asarray(x)[:0] for x in d))
    with pytest.raises(DemosError, match="empty demos"):
        data.save_demos(str(tmp_path / "e.npz"), empty, meta)


def test_corrupt_json_and_missing_array(saved):
    path, env, d, meta = saved
    js = path[:-4] + ".json"
    good_json = open(js).read()
    open(js, "w").write("{not json")
    with pytest.raises(DemosError, match="metadata is not valid JSON"):
        data.load_demos(path)
    open(js, "w").write(json.dumps({"returns": []}))
    with pytest.raises(DemosError, match="metadata is missing or has a malformed field"):
        data.load_demos(path)
    open(js, "w").write(good_json)
    arrays = {k: np.asarray(v) for k, v in d._asdict().items() if k not in ("mask", "reward")}
    np.savez(path, **arrays)
    with pytest.raises(DemosError, match=r"missing array\(s\) \['reward'\]"):
        data.load_demos(path)


def test_bad_episode_order_and_action_range(tmp_path, cartpole_demos):
    env, d, meta = cartpole_demos
    with pytest.raises(DemosError, match="outside \\[0, 2\\)"):
        bad_action = np.where(np.arange(d.obs.shape[0]) == 3, 5, np.asarray(d.action))
        data.save_demos(str(tmp_path / "a.npz"), d._replace(action=bad_action), meta)
    rev = np.asarray(d.episode)[::-1]
    with pytest.raises(DemosError, match="non-decreasing"):
        data.save_demos(str(tmp_path / "b.npz"), d._replace(episode=rev), meta)


def test_failed_save_keeps_existing_file(saved):
    path, env, d, meta = saved
    before = open(path, "rb").read()
    bad = d._replace(reward=np.full(d.reward.shape, np.inf, np.float32))
    with pytest.raises(DemosError):
        data.save_demos(path, bad, meta)
    assert open(path, "rb").read() == before
    assert not [f for f in os.listdir(os.path.dirname(path)) if ".tmp-" in f]
