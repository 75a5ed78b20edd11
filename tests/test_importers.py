"""jaxil.data.importers: Minari, the imitation library's trajectories, plain arrays, load_any.

Every source file here is written by the test itself (Minari's own DataCollector, the
``datasets`` save that imitation >= 1.0 uses, imitation 0.3's .npz layout, D4RL-style
arrays) from one set of recorded CartPole episodes, the reference for all of them.
"""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from jaxil import data, envs, loop, policy as pol
from jaxil.algos import bc
from jaxil.data import DemosError

minari = pytest.importorskip("minari")
gym = pytest.importorskip("gymnasium")

EPISODES = 3  # one balancing the pole to the time limit, two random ones that fall early


def heuristic(obs) -> int:
    """Pushes towards where the pole leans: keeps CartPole up for its 500 steps."""
    return int(obs[2] + 0.5 * obs[3] > 0)


@pytest.fixture(scope="module")
def minari_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("minari")))
        yield


def record(env_id: str, dataset_id: str, policies) -> list[dict]:
    """Records one episode per policy with Minari's DataCollector; returns what was recorded."""
    env = minari.DataCollector(gym.make(env_id))
    env.action_space.seed(0)
    episodes = []
    for seed, policy in enumerate(policies):
        obs, _ = env.reset(seed=seed)
        ep = {"obs": [obs], "action": [], "reward": [], "terminated": [], "truncated": []}
        done = False
        while not done:
            action = policy(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            for k, v in zip(ep, (obs, action, reward, terminated, truncated)):
                ep[k].append(v)
            done = terminated or truncated
        episodes.append({k: np.asarray(v) for k, v in ep.items()})
    env.create_dataset(dataset_id, eval_env=env_id, algorithm_name="test policies", author="jaxil",
                       author_email="jaxil", code_permalink="jaxil", description="recorded by tests/test_importers.py")
    return episodes


@pytest.fixture(scope="module")
def cartpole_recorded(minari_home):
    space = gym.make("CartPole-v1").action_space
    space.seed(1)
    return record("CartPole-v1", "cartpole/recorded-v0", [heuristic] + [lambda o: int(space.sample())] * 2)


@pytest.fixture(scope="module")
def pendulum_recorded(minari_home):
    space = gym.make("Pendulum-v1").action_space
    space.seed(2)
    return record("Pendulum-v1", "pendulum/recorded-v0", [lambda o: space.sample()])


def reference(episodes) -> data.Demos:
    """The Demos the recorded episodes should become, built directly from them."""
    def cat(key, rows=slice(None)):
        return np.concatenate([ep[key][rows] for ep in episodes])

    lengths = [len(ep["action"]) for ep in episodes]
    return data.make_demos(cat("obs", slice(None, -1)), cat("action"), cat("obs", slice(1, None)), cat("reward"),
                           cat("terminated"), cat("truncated"), np.repeat(np.arange(len(episodes)), lengths))


def assert_same(a, b):
    for name, x, y in zip(a._fields, a, b):
        assert np.asarray(x).dtype == np.asarray(y).dtype, name
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


# ---- Minari --------------------------------------------------------------------------

def test_minari_import_holds_the_recorded_episodes(cartpole_recorded):
    demos, meta = data.from_minari("cartpole/recorded-v0", envs.make("cartpole"))
    assert_same(demos, reference(cartpole_recorded))
    lengths = [len(ep["action"]) for ep in cartpole_recorded]
    assert lengths[0] == 500 and max(lengths[1:]) < 100  # one time limit, two falls
    assert list(np.flatnonzero(demos.truncated)) == [499]
    assert list(np.flatnonzero(demos.terminated)) == list(np.cumsum(lengths)[1:] - 1)
    np.testing.assert_allclose(meta.returns, [ep["reward"].sum() for ep in cartpole_recorded])
    assert meta.source == "minari:cartpole/recorded-v0" and meta.env == envs.make("cartpole").spec
    assert meta.extra["minari"]["env_id"] == "CartPole-v1"


def test_minari_round_trip_through_bc(cartpole_recorded, tmp_path):
    env = envs.make("cartpole")
    demos, meta = data.from_minari("cartpole/recorded-v0", env)
    # BC learns the heuristic from the first (heuristic) episode.
    expert = data.to_jax(data.select_trajectories(demos, 1))
    trainer = bc.make_train(bc.Config(hidden=(16,), updates_per_step=100, normalize_obs=True), env)
    run = loop.run(trainer, jax.random.split(jax.random.PRNGKey(0), 1), bc.Hparams(lr=1e-2), 3, demos=expert)
    params = trainer.policy(jax.tree.map(lambda x: x[0], run.state))
    agree = np.mean(np.asarray(pol.mode(trainer.policy_spec, params, expert.obs)) == np.asarray(expert.action))
    assert agree > 0.9

    data.to_minari(demos, meta, "jaxil/exported-v0", author="jaxil")
    again, meta_again = data.from_minari("jaxil/exported-v0", env)
    assert_same(again, demos)
    assert meta_again == meta
    # What Minari itself reads back is what it recorded, episode by episode.
    exported = minari.load_dataset("jaxil/exported-v0")
    assert exported.env_spec.id == "CartPole-v1" and exported.total_episodes == EPISODES
    assert json.loads(exported.storage.metadata["jaxil_demos"]) == meta.to_dict()
    for ep, rec in zip(exported.iterate_episodes(), cartpole_recorded):
        np.testing.assert_array_equal(ep.observations, rec["obs"])
        np.testing.assert_array_equal(ep.actions, rec["action"])
        np.testing.assert_array_equal(ep.terminations, rec["terminated"])
        np.testing.assert_array_equal(ep.truncations, rec["truncated"])
    # Through jaxil's own format as well.
    path = data.save_demos(str(tmp_path / "from_minari"), again, meta_again)
    assert_same(data.load_demos(path, env)[0], demos)


def test_minari_continuous_actions_and_bounds(pendulum_recorded):
    env = envs.make("pendulum")
    demos, _ = data.from_minari("pendulum/recorded-v0", env)
    assert_same(demos, reference(pendulum_recorded))
    assert demos.action.shape == (200, 1) and demos.truncated[-1] and not demos.terminated.any()
    narrower = dataclasses.replace(env.spec, action_low=(-1.0,), action_high=(1.0,))
    with pytest.raises(DemosError, match=r"action bounds: the dataset has low \[-2.0\] high \[2.0\], env 'pendulum' "
                                         r"has low \[-1.0\] high \[1.0\]"):
        data.from_minari("pendulum/recorded-v0", narrower)


def test_minari_mismatch_says_what_differs(cartpole_recorded, pendulum_recorded):
    with pytest.raises(DemosError, match=r"minari dataset 'cartpole/recorded-v0' does not match env 'pendulum': "
                                         r"it was recorded on CartPole-v1 but the env is 'pendulum'; observations: "
                                         r"the dataset has a Box of shape \(4,\), env 'pendulum' observes a Box of "
                                         r"shape \(3,\); actions: the dataset has Discrete\(2\)"):
        data.from_minari("cartpole/recorded-v0", "pendulum")
    with pytest.raises(DemosError, match=r"actions: the dataset has Discrete\(2\), env 'acrobot' has Discrete\(3\)"):
        data.from_minari("cartpole/recorded-v0", "acrobot")
    # Same spaces, another env: the recorded env id tells them apart.
    same_shapes = dataclasses.replace(envs.make("cartpole").spec, name="not_cartpole")
    with pytest.raises(DemosError, match="recorded on CartPole-v1 but the env is 'not_cartpole'"):
        data.from_minari("cartpole/recorded-v0", same_shapes)
    with pytest.raises(FileNotFoundError, match="no local Minari dataset 'cartpole/absent-v0'.*minari download"):
        data.from_minari("cartpole/absent-v0", "cartpole")


def test_minari_export_refuses_subsampled_demos(cartpole_recorded):
    demos, meta = data.from_minari("cartpole/recorded-v0", "cartpole")
    sub = data.subsample(demos, every=2)
    with pytest.raises(DemosError, match="episode 0 is not contiguous at row 0"):
        data.to_minari(sub, dataclasses.replace(meta, returns=()), "jaxil/subsampled-v0")
    assert not os.path.exists(os.path.join(os.environ["MINARI_DATASETS_PATH"], "jaxil", "subsampled-v0"))


# ---- the imitation library's files ----------------------------------------------------

def imitation_trajectories(recorded):
    """The recorded episodes as imitation Trajectories: T + 1 obs, terminal = the episode ended;
    the third cut short to a fragment that does not end."""
    trajs = [{"obs": ep["obs"], "acts": ep["action"], "rews": ep["reward"].astype(np.float64), "terminal": True}
             for ep in recorded]
    trajs[2] = {"obs": trajs[2]["obs"][:6], "acts": trajs[2]["acts"][:5], "rews": trajs[2]["rews"][:5],
                "terminal": False}
    return trajs


def check_imitation_import(demos, meta, trajs):
    lengths = [len(t["acts"]) for t in trajs]
    ends = np.cumsum(lengths) - 1
    np.testing.assert_array_equal(demos.obs, np.concatenate([t["obs"][:-1] for t in trajs]))
    np.testing.assert_array_equal(demos.next_obs, np.concatenate([t["obs"][1:] for t in trajs]))
    np.testing.assert_array_equal(demos.action, np.concatenate([t["acts"] for t in trajs]))
    # 500 steps = cartpole's time limit: truncated; shorter and ended: terminated; not ended: truncated.
    assert list(np.flatnonzero(demos.truncated)) == [ends[0], ends[2]]
    assert list(np.flatnonzero(demos.terminated)) == [ends[1]]
    np.testing.assert_allclose(meta.returns, [t["rews"].sum() for t in trajs])


def test_imitation_datasets_directory(cartpole_recorded, tmp_path):
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("pyarrow")
    trajs = imitation_trajectories(cartpole_recorded)
    # What imitation.data.serialize.save does (>= 1.0): one row per trajectory, infos as JSON strings.
    columns = {k: [t[k] for t in trajs] for k in ("obs", "acts", "terminal", "rews")}
    columns["infos"] = [["{}"] * len(t["acts"]) for t in trajs]
    datasets.Dataset.from_dict(columns).save_to_disk(str(tmp_path / "trajs"))
    demos, meta = data.from_imitation(str(tmp_path / "trajs"), "cartpole")
    check_imitation_import(demos, meta, trajs)
    assert_same(data.load_any(str(tmp_path / "trajs"), "cartpole")[0], demos)


def save_imitation_npz(path, trajs, rewards=True):
    """imitation 0.3's .npz layout: trajectories concatenated, split at 'indices'."""
    arrays = {"obs": np.concatenate([t["obs"] for t in trajs]), "acts": np.concatenate([t["acts"] for t in trajs]),
              "infos": np.array([{}] * sum(len(t["acts"]) for t in trajs), dtype=object),
              "terminal": np.array([t["terminal"] for t in trajs]),
              "indices": np.cumsum([len(t["acts"]) for t in trajs[:-1]])}
    if rewards:
        arrays["rews"] = np.concatenate([t["rews"] for t in trajs])
    np.savez_compressed(path, **arrays)


def test_imitation_npz_with_and_without_rewards(cartpole_recorded, tmp_path):
    trajs = imitation_trajectories(cartpole_recorded)
    save_imitation_npz(tmp_path / "trajs.npz", trajs)
    demos, meta = data.from_imitation(str(tmp_path / "trajs.npz"), envs.make("cartpole"))
    check_imitation_import(demos, meta, trajs)
    assert_same(data.load_any(str(tmp_path / "trajs.npz"), "cartpole")[0], demos)
    save_imitation_npz(tmp_path / "norew.npz", trajs, rewards=False)
    demos, meta = data.from_imitation(str(tmp_path / "norew.npz"), "cartpole")
    assert meta.returns == () and not demos.reward.any() and meta.extra["imitation"]["rewards"] is False
    with pytest.raises(DemosError, match=r"'obs' has shape \(\d+, 4\), expected \(\d+, 3\) for env 'pendulum'"):
        data.from_imitation(str(tmp_path / "trajs.npz"), "pendulum")
    (tmp_path / "old.pkl").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(DemosError, match="pickle format of imitation < 0.3"):
        data.load_any(str(tmp_path / "old.pkl"), "cartpole")


# ---- plain arrays ----------------------------------------------------------------------

def d4rl_arrays(recorded):
    ref = reference(recorded)
    return ref, {"observations": ref.obs, "actions": ref.action.astype(np.int64), "rewards": ref.reward,
                 "next_observations": ref.next_obs, "terminals": ref.terminated, "timeouts": ref.truncated}


def test_arrays_from_npz_and_hdf5(cartpole_recorded, tmp_path):
    h5py = pytest.importorskip("h5py")
    ref, arrays = d4rl_arrays(cartpole_recorded)
    np.savez(tmp_path / "d4rl.npz", **arrays)
    with h5py.File(tmp_path / "d4rl.hdf5", "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    for path in (tmp_path / "d4rl.npz", tmp_path / "d4rl.hdf5"):
        demos, meta = data.load_arrays(str(path), "cartpole")
        assert_same(demos, ref)
        np.testing.assert_allclose(meta.returns, data.episode_returns(ref))
        assert_same(data.load_any(str(path), "cartpole")[0], demos)


def test_arrays_without_next_obs_drop_each_episodes_last_row(cartpole_recorded):
    ref, arrays = d4rl_arrays(cartpole_recorded)
    dones = ref.terminated | ref.truncated
    demos, meta = data.from_arrays("cartpole", arrays["observations"], arrays["actions"], dones=dones)
    last = np.flatnonzero(dones)
    keep = np.setdiff1d(np.arange(ref.num_transitions), last)
    np.testing.assert_array_equal(demos.obs, ref.obs[keep])
    np.testing.assert_array_equal(demos.next_obs, ref.next_obs[keep])  # the following row's obs
    assert list(np.flatnonzero(demos.truncated)) == list(last - np.arange(1, len(last) + 1))  # cut episodes
    assert not demos.terminated.any() and not demos.reward.any() and meta.returns == ()
    # dones at the time limit count as truncations, earlier ones as terminations.
    full, _ = data.from_arrays("cartpole", ref.obs, ref.action, ref.reward, dones, next_obs=ref.next_obs)
    assert_same(full, ref)


def test_arrays_bad_input_says_what_and_where(cartpole_recorded, tmp_path):
    ref, arrays = d4rl_arrays(cartpole_recorded)
    with pytest.raises(DemosError, match=r"src: array 'dones' has shape \(3,\), expected \(\d+,\) like 'obs'"):
        data.from_arrays("cartpole", ref.obs, ref.action, dones=np.zeros(3), source="src")
    with pytest.raises(DemosError, match="either 'dones' or 'terminated'"):
        data.from_arrays("cartpole", ref.obs, ref.action, dones=ref.truncated, terminated=ref.terminated)
    with pytest.raises(DemosError, match="empty demos"):
        data.from_arrays("cartpole", ref.obs[:0], ref.action[:0])
    with pytest.raises(DemosError, match=r"action 7 at row 0 \(episode 0\) is outside \[0, 2\)"):
        data.from_arrays("cartpole", ref.obs, np.where(np.arange(len(ref.action)) == 0, 7, ref.action),
                         next_obs=ref.next_obs)
    np.savez(tmp_path / "noact.npz", observations=ref.obs)
    with pytest.raises(DemosError, match=r"noact.npz: no actions array \(looked for \['actions', 'action', 'acts'\]"):
        data.load_any(str(tmp_path / "noact.npz"), "cartpole")
    np.savez(tmp_path / "twice.npz", obs=ref.obs, observations=ref.obs, actions=ref.action)
    with pytest.raises(DemosError, match=r"arrays \['obs', 'observations'\] are alternative names for 'obs'"):
        data.load_any(str(tmp_path / "twice.npz"), "cartpole")


# ---- load_any ------------------------------------------------------------------------

def test_load_any_dispatch(cartpole_recorded, tmp_path):
    env = envs.make("cartpole")
    demos, meta = data.from_minari("cartpole/recorded-v0", env)
    data_dir = os.path.join(os.environ["MINARI_DATASETS_PATH"], "cartpole", "recorded-v0", "data")
    for source in ("minari:cartpole/recorded-v0", os.path.dirname(data_dir), data_dir,
                   os.path.join(data_dir, "main_data.hdf5")):
        got, got_meta = data.load_any(source, env)
        assert isinstance(got.obs, jax.Array) and got_meta == meta, source
        assert_same(got, demos)
    path = data.save_demos(str(tmp_path / "mine"), demos, meta)
    for source in (path, str(tmp_path / "mine"), str(tmp_path / "mine.json")):
        assert_same(data.load_any(source, env)[0], demos)
    with pytest.raises(DemosError, match="demos were recorded on 'cartpole' but the env is 'pendulum'"):
        data.load_any(path, "pendulum")
    with pytest.raises(FileNotFoundError, match=r"demos arrays not found: .*absent\.npz"):
        data.load_any(str(tmp_path / "absent.npz"), env)
    (tmp_path / "notes.csv").write_text("obs,action\n")
    with pytest.raises(DemosError, match=r"notes\.csv: unknown kind of demos"):
        data.load_any(str(tmp_path / "notes.csv"), env)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DemosError, match="neither a Minari dataset"):
        data.load_any(str(tmp_path / "empty_dir"), env)

