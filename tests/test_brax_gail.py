"""GAIL on Brax hopper from the shipped demos, the GPU benchmark's command at a tiny budget."""

import json

import numpy as np
import pytest

from jaxil import cli, data, envs, experts, runs


def test_subsample_keeps_every_20th_transition_per_trajectory():
    env = envs.make("hopper")
    full, _ = runs.load_task_demos("hopper", env, 4)
    sub, meta = runs.load_task_demos("hopper", env, 4, subsample=20, seed=3)
    assert len(meta.returns) == 4
    real = np.asarray(sub.mask) > 0
    episodes = np.asarray(sub.episode)[real]
    np.testing.assert_array_equal(np.unique(episodes), np.arange(4))
    full_obs, full_ep = np.asarray(full.obs), np.asarray(full.episode)
    for e in range(4):
        rows = full_obs[full_ep == e]
        kept = np.asarray(sub.obs)[real][episodes == e]
        # Kept rows are rows of the full episode, 20 steps apart from one start in [0, 20).
        idx = np.array([np.flatnonzero((rows == k).all(1))[0] for k in kept])
        assert idx[0] < 20 and np.all(np.diff(idx) == 20) and len(idx) == len(range(idx[0], len(rows), 20))
    with pytest.raises(ValueError, match="subsample"):
        runs.load_task_demos("hopper", env, 4, subsample=0)


@pytest.mark.slow  # Brax's hopper takes about a minute to compile on CPU
def test_gail_hopper_command_at_a_small_budget(tmp_path):
    result = cli.train("gail", env="hopper", demos="hopper", num_trajectories=4, subsample=20, seeds=2, steps=2,
                       out=str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["subsample"] == 20 and saved["num_trajectories"] == 4
    assert saved["demo_transitions"] == sum(len(range(0, 1000, 20)) for _ in range(4))  # 1000-step episodes
    assert saved["env_steps"] == 2 * 64 * 32
    assert np.all(np.isfinite(result["return"])) and len(result["normalized_return"]) == 2
    assert experts.reference_returns("hopper") is not None
    reward_dir = tmp_path / "reward"
    assert (reward_dir / "reward.json").exists() or any(reward_dir.iterdir())
    d, _ = data.load_demos(experts.resolve_demos("hopper"), envs.make("hopper"))
    assert data.num_episodes(d) == 16
