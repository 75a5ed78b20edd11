import jax
import numpy as np
import pytest

from jaxil import data, envs, experts, policy as pol
from jaxil.data import mixed
from jaxil.types import Demos


def _demos(episode, first_value, mask=None) -> Demos:
    n = len(episode)
    v = np.arange(first_value, first_value + n, dtype=np.float32)
    return data.make_demos(v[:, None], v[:, None], v[:, None] + 0.5, v, np.zeros(n, bool), np.zeros(n, bool),
                           episode, mask)


def test_concat_renumbers_episodes_and_drops_padding():
    a = _demos([0, 0, 1], 0.0)
    b = _demos([0, 1, 1, 0], 10.0, mask=[1, 1, 1, 0])  # last row is padding
    out = mixed.concat([a, b])
    np.testing.assert_array_equal(out.episode, [0, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(out.reward, [0, 1, 2, 10, 11, 12])
    np.testing.assert_array_equal(out.mask, np.ones(6))
    data.validate(out, envs.EnvSpec("x", 1, 1, False, 10))
    with pytest.raises(ValueError, match="nothing to concatenate"):
        mixed.concat([])


@pytest.fixture(scope="module")
def small():
    return mixed.build("pendulum", jax.random.PRNGKey(0), expert=1, medium=1, random=2)


def test_build_labels_episodes_and_keeps_their_returns(small):
    env = envs.make("pendulum")
    demos, meta = small.demos, small.meta
    data.validate(demos, env.spec)
    assert demos.num_transitions == 4 * 200  # pendulum never terminates early
    np.testing.assert_array_equal(np.unique(demos.episode), [0, 1, 2, 3])
    np.testing.assert_array_equal(small.sources, ["expert", "medium", "random", "random"])
    # The metadata's returns are the env's episode returns; the rewards in the rows add up to them.
    np.testing.assert_allclose(data.episode_returns(demos), small.returns, rtol=1e-4)
    ret = small.returns
    assert ret[0] > -400 and ret[2] < -700 and ret[3] < -700, ret  # expert ~ -150, random ~ -1200
    random_ref, expert_ref = experts.reference_returns("pendulum")
    assert (meta.random_return, meta.expert_return) == (random_ref, expert_ref)
    summary = mixed.summary(small, "pendulum")
    assert summary["random"]["episodes"] == 2 and summary["random"]["mean"] == pytest.approx(ret[2:].mean())
    assert summary["all"]["mean"] == pytest.approx(ret.mean())


def test_medium_episodes_take_a_random_action_at_the_given_rate(small):
    env = envs.make("pendulum")
    spec, params = experts.load_expert("pendulum", env)
    obs, action = np.asarray(small.demos.obs), np.asarray(small.demos.action)
    expert_action = np.asarray(pol.mode(spec, params, obs))
    off = np.abs(action - expert_action)[:, 0] > 1e-4
    ep = np.asarray(small.demos.episode)
    assert off[ep == 0].mean() == 0.0  # the expert acts deterministically
    # eps = 0.6: 120 of 200 steps expected (binomial sd ~7); a uniform action never hits the mode
    assert 0.45 < off[ep == 1].mean() < 0.75, off[ep == 1].mean()
    assert small.meta.extra["medium_eps"] == mixed.MEDIUM_EPS["pendulum"]


def test_sources_survive_save_and_load(small, tmp_path):
    data.save_demos(str(tmp_path / "mix"), small.demos, small.meta)
    demos, meta = data.load_demos(str(tmp_path / "mix"), envs.make("pendulum"))
    np.testing.assert_array_equal(mixed.sources_of(meta), small.sources)
    np.testing.assert_array_equal(demos.episode, small.demos.episode)


def test_bad_arguments_are_refused():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="at least one episode"):
        mixed.build("pendulum", key, expert=0, medium=0, random=0)
    with pytest.raises(ValueError, match="episode counts must be >= 0"):
        mixed.build("pendulum", key, expert=-1)
    with pytest.raises(ValueError, match=r"medium_eps is a probability in \[0, 1\], got 1.5"):
        mixed.build("pendulum", key, medium_eps=1.5)
    _, meta = data.load_demos(experts.resolve_demos("pendulum"))
    with pytest.raises(data.DemosError, match="carry no per-episode sources"):
        mixed.sources_of(meta)
