"""jaxil.data: collection, slicing, and validated save/load of demonstrations."""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs
from jaxil import eval as ev
from jaxil import policy as pol
from jaxil.data import DemosError, DemosMeta

FIELDS = ("obs", "action", "next_obs", "reward", "terminated", "truncated", "episode")


def random_discrete(n):
    return lambda p, obs, key: jax.random.randint(key, obs.shape[:-1], 0, n)


def uniform_continuous(low, high):
    return lambda p, obs, key: jax.random.uniform(key, (*obs.shape[:-1], 1), minval=low, maxval=high)


@pytest.fixture(scope="module")
def cartpole():
    env = envs.make("cartpole")
    demos, returns = data.collect(env, random_discrete(2), None, jax.random.PRNGKey(0), 6)
    meta = DemosMeta(env.spec, tuple(returns), "random policy", expert_return=500.0, random_return=22.5,
                     extra={"note": "test", "sizes": [1, 2]})
    return env, demos, returns, meta


@pytest.fixture(scope="module")
def pendulum():
    env = envs.make("pendulum")
    # Wider than the env's [-2, 2] bounds, to see that stored actions are the clipped ones.
    act = uniform_continuous(-3.0, 3.0)
    demos, returns = data.collect(env, act, None, jax.random.PRNGKey(1), 3)
    return env, act, demos, returns


def episode_rows(demos, e):
    return np.flatnonzero(np.asarray(demos.episode) == e)


# ---- collect -------------------------------------------------------------------------

def test_collect_episode_structure(cartpole):
    env, d, returns, _ = cartpole
    assert list(np.unique(d.episode)) == list(range(6))
    assert np.all(np.diff(d.episode) >= 0)  # episodes contiguous, in order
    for e in range(6):
        rows = episode_rows(d, e)
        done = d.terminated[rows] | d.truncated[rows]
        assert done[-1] and not done[:-1].any()  # one end, at the last row
        np.testing.assert_array_equal(d.next_obs[rows[:-1]], d.obs[rows[1:]])
        assert returns[e] == pytest.approx(float(d.reward[rows].sum()))
    np.testing.assert_allclose(data.episode_returns(d), returns)
    dtypes = [x.dtype for x in d]
    assert dtypes == [np.float32, np.int32, np.float32, np.float32, bool, bool, np.int32, np.float32]
    np.testing.assert_array_equal(d.mask, np.ones(d.num_transitions, np.float32))


def test_collect_returns_are_the_envs_and_evaluates(cartpole):
    env, _, returns, _ = cartpole
    act, key = random_discrete(2), jax.random.PRNGKey(0)
    np.testing.assert_array_equal(returns, np.asarray(ev.evaluate(env, act, None, key, 6)))
    # Replay env 0 alone with the keys collect gives it.
    k_reset, k_act = jax.random.split(key)
    state = jax.vmap(env.reset)(jax.random.split(k_reset, 6))
    for k in jax.random.split(k_act, env.spec.max_episode_steps):
        state = jax.vmap(env.step)(state, act(None, state.obs, k))
        if state.done[0]:
            break
    assert float(state.episode_return[0]) == returns[0]


def test_pendulum_episodes_are_200_steps_truncated_with_clipped_actions(pendulum):
    env, act, d, returns = pendulum
    assert d.obs.shape == (600, 3) and d.action.shape == (600, 1)
    assert list(np.flatnonzero(d.truncated)) == [199, 399, 599] and not d.terminated.any()
    # The stored actions are the policy's, clipped like the env clips them.
    k_reset, k_act = jax.random.split(jax.random.PRNGKey(1))
    state = jax.vmap(env.reset)(jax.random.split(k_reset, 3))
    raw = act(None, state.obs, jax.random.split(k_act, 200)[0])
    np.testing.assert_array_equal(d.action[[0, 200, 400]], np.clip(np.asarray(raw), -2.0, 2.0))
    assert np.abs(d.action).max() == 2.0  # some actions were out of bounds
    np.testing.assert_allclose(data.episode_returns(d), returns, rtol=1e-5)


def test_collect_with_a_policy_from_make_act():
    env = envs.make("cartpole", max_episode_steps=30)
    spec = pol.PolicySpec(env.spec, "categorical", hidden=(8,))
    d, returns = data.collect(env, pol.make_act(spec), spec.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(1), 2)
    assert list(np.unique(d.episode)) == [0, 1] and len(returns) == 2


def test_collect_rejects_an_unbatched_policy():
    env = envs.make("cartpole")
    with pytest.raises(ValueError, match=r"act returned actions of shape \(\) for a batch of 3 observations"):
        data.collect(env, lambda p, o, k: jnp.zeros((), jnp.int32), None, jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="num_episodes"):
        data.collect(env, random_discrete(2), None, jax.random.PRNGKey(0), 0)


# ---- make_demos, subsample, select_trajectories ----------------------------------------

def hand_demos():
    """Three episodes of lengths 3, 4 and 2; obs and reward are the row index."""
    obs = np.arange(9, dtype=np.float32)[:, None]
    ep = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2])
    ends = np.isin(np.arange(9), [2, 6, 8])
    return data.make_demos(obs, np.zeros(9, np.int64), obs + 0.5, np.arange(9.0), np.zeros(9, int), ends, ep)


def test_make_demos_gives_canonical_dtypes_and_checks_values():
    d = hand_demos()
    assert [x.dtype for x in d] == [np.float32, np.int32, np.float32, np.float32, bool, bool, np.int32, np.float32]
    np.testing.assert_array_equal(d.mask, np.ones(9))
    with pytest.raises(DemosError, match="'terminated' must be bool or 0/1"):
        data.make_demos(*d[:4], np.full(9, 0.5), *d[5:])
    with pytest.raises(DemosError, match="'episode' must hold integers"):
        data.make_demos(*d[:6], d.episode + 0.5)
    with pytest.raises(DemosError, match="'obs' has shape \\(9, 1\\), expected \\(9, 4\\)"):
        data.make_demos(*d, spec=envs.make("cartpole").spec)


def test_subsample_by_hand():
    d = hand_demos()
    assert list(data.subsample(d, every=2).obs[:, 0]) == [0, 2, 3, 5, 7]
    sub = data.subsample(d, every=2, offset=1)
    assert list(sub.obs[:, 0]) == [1, 4, 6, 8] and list(sub.episode) == [0, 1, 1, 2]
    assert data.subsample(d, every=1).num_transitions == 9
    with pytest.raises(ValueError, match="offset"):
        data.subsample(d, every=2, offset=2)
    with pytest.raises(ValueError, match="episode 2 has 2 transitions, none at offset 2"):
        data.subsample(d, every=3, offset=2)


def test_subsample_random_offset_per_episode():
    d = hand_demos()
    patterns = set()
    for seed in range(20):
        sub = data.subsample(d, every=3, key=jax.random.PRNGKey(seed))
        starts = np.array([0, 3, 7])
        assert list(np.unique(sub.episode)) == [0, 1, 2]  # every episode keeps a transition
        offsets = []
        for e in range(3):
            kept = sub.obs[sub.episode == e, 0] - starts[e]
            assert kept[0] < min(3, np.bincount(d.episode)[e]) and np.all(np.diff(kept) == 3)
            offsets.append(int(kept[0]))
        patterns.add(tuple(offsets))
    assert len({p[0] for p in patterns}) > 1 and len({p[0] - p[1] for p in patterns}) > 1  # random, per episode


def test_select_trajectories_by_hand():
    d = hand_demos()
    first = data.select_trajectories(d, 2)
    assert list(first.obs[:, 0]) == list(range(7)) and list(first.episode) == [0, 0, 0, 1, 1, 1, 1]
    for seed in range(5):
        picked = data.select_trajectories(d, 2, key=jax.random.PRNGKey(seed))
        assert list(np.unique(picked.episode)) == [0, 1]
        for e in range(2):  # each picked episode is a whole original one, in time order
            orig = set(d.episode[picked.obs[picked.episode == e, 0].astype(int)])
            assert len(orig) == 1
            np.testing.assert_array_equal(picked.obs[picked.episode == e], d.obs[d.episode == orig.pop()])
    with pytest.raises(ValueError, match="cannot select 4 trajectories: the demos hold 3"):
        data.select_trajectories(d, 4)
    with pytest.raises(ValueError, match="cannot select 0 trajectories"):
        data.select_trajectories(d, 0)


def test_padding_keeps_shapes_and_masks():
    d = hand_demos()
    one = data.select_trajectories(d, 1, pad_to=9)
    two = data.select_trajectories(d, 2, pad_to=9)
    assert all(a.shape == b.shape for a, b in zip(one, two))
    assert list(one.mask) == [1, 1, 1, 0, 0, 0, 0, 0, 0] and two.mask.sum() == 7
    np.testing.assert_array_equal(one.obs[3:], np.repeat(one.obs[:1], 6, axis=0))  # copies of row 0
    assert list(data.episode_returns(one)) == [0 + 1 + 2]  # padding does not count
    assert list(data.episode_returns(two)) == [3, 3 + 4 + 5 + 6]
    again = data.select_trajectories(two, 1, pad_to=4)  # padding of the input is dropped first
    assert list(again.mask) == [1, 1, 1, 0] and list(data.subsample(two, every=1).mask) == [1] * 7
    with pytest.raises(ValueError, match="pad_to=6 is smaller than the 7 transitions selected"):
        data.select_trajectories(d, 2, pad_to=6)

    # One shape: one compilation serves both subsets.
    masked_mean = jax.jit(lambda demos: (demos.reward * demos.mask).sum() / demos.mask.sum())
    assert float(masked_mean(one)) == 1.0 and float(masked_mean(two)) == 3.0
    assert masked_mean._cache_size() == 1


# ---- save / load ---------------------------------------------------------------------

@pytest.fixture()
def saved(tmp_path, cartpole):
    env, d, _, meta = cartpole
    return data.save_demos(str(tmp_path / "demos.npz"), d, meta), env, d, meta


def assert_same(a, b):
    for name, x, y in zip(a._fields, a, b):
        assert np.asarray(x).dtype == np.asarray(y).dtype, name
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def test_save_load_round_trip_is_exact(tmp_path, cartpole):
    env, d, _, meta = cartpole
    path = data.save_demos(str(tmp_path / "sub" / "demos"), d, meta)
    assert path == str(tmp_path / "sub" / "demos.npz")
    assert sorted(os.listdir(tmp_path / "sub")) == ["demos.json", "demos.npz"]
    with np.load(path) as f:
        assert sorted(f.files) == sorted(FIELDS)  # no mask without padding
    for spelling in (path, path[:-4], path[:-4] + ".json"):
        d2, meta2 = data.load_demos(spelling, env)
        assert meta2 == meta and meta2.extra == {"note": "test", "sizes": [1, 2]}
        assert isinstance(d2.obs, jax.Array)
        assert_same(d, d2)
    assert data.load_demos(path, env.spec)[1] == meta


def test_padded_round_trip_stores_the_mask(tmp_path, cartpole):
    env, d, _, meta = cartpole
    padded = data.select_trajectories(d, 2, pad_to=d.num_transitions)
    sub_meta = dataclasses.replace(meta, returns=meta.returns[:2])
    path = data.save_demos(str(tmp_path / "padded.npz"), padded, sub_meta)
    with np.load(path) as f:
        assert sorted(f.files) == sorted((*FIELDS, "mask"))
    d2, meta2 = data.load_demos(path, env)
    assert meta2 == sub_meta
    assert_same(padded, d2)


def test_meta_dict_round_trip_and_json_only_extra(cartpole):
    _, _, _, meta = cartpole
    assert DemosMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta
    assert DemosMeta(meta.env, np.array([1.0, 2.0]), extra={"t": (1, 2)}).extra == {"t": [1, 2]}
    with pytest.raises(TypeError, match="extra must be JSON-able"):
        DemosMeta(meta.env, (), extra={"f": object()})


def write_arrays(path, demos, **override):
    arrays = {k: np.asarray(v) for k, v in demos._asdict().items() if k != "mask"}
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def test_truncated_or_garbage_npz(saved):
    path, *_ = saved
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: len(blob) // 2])
    with pytest.raises(DemosError, match=r"demos\.npz: not a readable \.npz archive \(truncated or corrupt\?\)"):
        data.load_demos(path)
    open(path, "wb").write(b"not a zip file at all")
    with pytest.raises(DemosError, match=r"demos\.npz: not a readable \.npz"):
        data.load_demos(path)


def test_corrupt_member_names_the_array(saved):
    path, *_ = saved
    blob = bytearray(open(path, "rb").read())
    start = blob.find(b"next_obs.npy") + 200  # inside that member's compressed data
    blob[start:start + 16] = bytes(16)
    open(path, "wb").write(bytes(blob))
    with pytest.raises(DemosError, match=r"demos\.npz: array 'next_obs' is unreadable"):
        data.load_demos(path)


def test_nan_names_array_row_and_episode(saved):
    path, _, d, _ = saved
    obs = np.array(d.obs)
    row = int(episode_rows(d, 1)[2])
    obs[row, 2] = np.nan
    write_arrays(path, d, obs=obs)
    with pytest.raises(DemosError, match=rf"demos\.npz: non-finite value in 'obs' at row {row} \(episode 1\)"):
        data.load_demos(path)


def test_wrong_obs_size(saved, tmp_path):
    path, env, d, meta = saved
    write_arrays(path, d, obs=np.zeros((d.num_transitions, 5), np.float32))
    with pytest.raises(DemosError, match=r"'obs' has shape \(\d+, 5\), expected \(\d+, 4\) for env 'cartpole'"):
        data.load_demos(path, env)
    write_arrays(path, d, reward=np.asarray(d.reward)[:-1])
    with pytest.raises(DemosError, match=r"'reward' has shape \(\d+,\), expected"):
        data.load_demos(path)
    with pytest.raises(DemosError, match=r"'obs' has shape \(\d+, 4\), expected \(\d+, 3\)"):
        data.save_demos(str(tmp_path / "x.npz"), d, DemosMeta(envs.make("pendulum").spec, meta.returns))


def test_env_mismatch(saved):
    path, env, _, _ = saved
    with pytest.raises(DemosError, match="demos were recorded on 'cartpole' but the env is 'pendulum'"):
        data.load_demos(path, envs.make("pendulum"))
    wider = dataclasses.replace(env.spec, obs_size=5)
    with pytest.raises(DemosError, match="obs_size differs: demos have 4, env 'cartpole' has 5"):
        data.load_demos(path, wider)
    with pytest.raises(DemosError, match="action_size differs: demos have 2, env 'cartpole' has 3"):
        data.load_demos(path, dataclasses.replace(env.spec, action_size=3))
    with pytest.raises(DemosError, match="discrete differs"):
        data.load_demos(path, dataclasses.replace(env.spec, discrete=False))


def test_empty_demos(saved, tmp_path):
    path, _, d, meta = saved
    empty = data.make_demos(*(np.asarray(x)[:0] for x in d))
    with pytest.raises(DemosError, match="empty demos"):
        data.save_demos(str(tmp_path / "e.npz"), empty, meta)
    assert not os.path.exists(tmp_path / "e.npz")
    write_arrays(path, empty)
    with pytest.raises(DemosError, match=r"demos\.npz: empty demos \(0 transitions\)"):
        data.load_demos(path)


def test_corrupt_or_missing_json(saved):
    path, *_ = saved
    js = path[:-4] + ".json"
    good = open(js).read()
    open(js, "w").write("{not json")
    with pytest.raises(DemosError, match=r"demos\.json: metadata is not valid JSON"):
        data.load_demos(path)
    open(js, "w").write(json.dumps({"returns": []}))
    with pytest.raises(DemosError, match=r"demos\.json: metadata is missing or has a malformed field: no 'env'"):
        data.load_demos(path)
    open(js, "w").write(json.dumps({**json.loads(good), "format": "jaxil.demos/9"}))
    with pytest.raises(DemosError, match="unknown format 'jaxil.demos/9'"):
        data.load_demos(path)
    open(js, "w").write(json.dumps({**json.loads(good), "returns": [1.0]}))
    with pytest.raises(DemosError, match="metadata lists 1 episode returns but the arrays hold 6 episodes"):
        data.load_demos(path)
    os.remove(js)
    with pytest.raises(FileNotFoundError, match=r"demos metadata not found: .*demos\.json"):
        data.load_demos(path)
    with pytest.raises(FileNotFoundError, match=r"demos arrays not found: .*other\.npz"):
        data.load_demos(os.path.join(os.path.dirname(path), "other"))


def test_missing_array_and_wrong_dtypes(saved):
    path, _, d, _ = saved
    write_arrays(path, d, reward=None)
    with pytest.raises(DemosError, match=r"demos\.npz: missing array\(s\) \['reward'\]"):
        data.load_demos(path)
    write_arrays(path, d, terminated=np.asarray(d.terminated, np.float32))
    with pytest.raises(DemosError, match="array 'terminated' has dtype float32; expected bool"):
        data.load_demos(path)
    write_arrays(path, d, action=np.asarray(d.action, np.float32))
    with pytest.raises(DemosError, match="array 'action' has dtype float32; expected integer .*discrete"):
        data.load_demos(path)


def test_bad_action_range_and_episode_ids(saved):
    path, _, d, _ = saved
    write_arrays(path, d, action=np.where(np.arange(d.num_transitions) == 3, 5, d.action).astype(np.int32))
    with pytest.raises(DemosError, match=r"action 5 at row 3 \(episode 0\) is outside \[0, 2\)"):
        data.load_demos(path)
    write_arrays(path, d, episode=d.episode[::-1].copy())
    with pytest.raises(DemosError, match="row 0 has episode 5 as its first row"):
        data.load_demos(path)
    gap = np.where(d.episode >= 3, d.episode + 1, d.episode).astype(np.int32)
    write_arrays(path, d, episode=gap)
    row = int(episode_rows(d, 3)[0])
    with pytest.raises(DemosError, match=f"non-decreasing .* row {row} has episode 4 after episode 2"):
        data.load_demos(path)


def test_failed_save_keeps_the_existing_files(saved, monkeypatch):
    path, _, d, meta = saved
    js = path[:-4] + ".json"
    before = open(path, "rb").read(), open(js, "rb").read()

    def unchanged():
        assert (open(path, "rb").read(), open(js, "rb").read()) == before
        assert sorted(os.listdir(os.path.dirname(path))) == ["demos.json", "demos.npz"]  # no temp files

    with pytest.raises(DemosError, match="non-finite value in 'reward'"):
        data.save_demos(path, d._replace(reward=np.full(d.reward.shape, np.inf, np.float32)), meta)
    unchanged()
    with pytest.raises(DemosError, match="metadata must be finite"):
        data.save_demos(path, d, dataclasses.replace(meta, expert_return=float("nan")))
    unchanged()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        data.save_demos(path, data.select_trajectories(d, 6, pad_to=d.num_transitions + 5), meta)
    unchanged()


def test_shipped_cartpole_demos_load():
    d, meta = data.load_demos(os.path.join(os.path.dirname(data.__file__), "..", "assets", "cartpole", "demos"),
                              envs.make("cartpole"))
    np.testing.assert_allclose(data.episode_returns(d), meta.returns)
