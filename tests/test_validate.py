"""jaxil.validate (names, Hparams, batch sizes) and the value checks of jaxil.data.make_demos / validate."""

import dataclasses
from typing import NamedTuple

import numpy as np
import pytest

from jaxil import algos, data, envs, validate
from jaxil.algos import adversarial, bc, dagger, maxent_irl
from jaxil.data import DemosError
from jaxil.rl import ppo, sac

DEFAULT_HPARAMS = {"bc": bc.Hparams(), "dagger": dagger.Hparams(), "gail": adversarial.Hparams(),
                   "airl": algos.airl.Hparams(), "ppo": ppo.Hparams(), "sac": sac.Hparams(),
                   "maxent_irl": maxent_irl.Hparams(), "apprenticeship": algos.apprenticeship.Hparams()}


@pytest.mark.parametrize("algo", sorted(DEFAULT_HPARAMS))
def test_every_default_hparams_passes(algo):
    validate.check_hparams(DEFAULT_HPARAMS[algo], algo)


@pytest.mark.parametrize("algo, hparams, message", [
    ("bc", bc.Hparams(lr=-1e-3), r"bc Hparams.lr = -0.001: a learning rate must be >= 0"),
    ("sac", sac.Hparams(critic_lr=float("inf")), r"sac Hparams.critic_lr = inf: must be finite"),
    ("gail", adversarial.Hparams(disc_lr=-3e-4), r"gail Hparams.disc_lr = -0.0003: a learning rate"),
    ("bc", bc.Hparams(ent_coef=float("nan")), r"bc Hparams.ent_coef = nan: must be finite"),
    ("bc", bc.Hparams(l2_coef=-0.1), r"bc Hparams.l2_coef = -0.1: a coefficient must be >= 0"),
    ("airl", algos.airl.Hparams(grad_penalty=-1.0), r"airl Hparams.grad_penalty = -1.0: a coefficient must be >= 0"),
    ("ppo", ppo.Hparams(gamma=1.5), r"ppo Hparams.gamma = 1.5: must lie in \[0, 1\]"),
    ("ppo", ppo.Hparams(clip_eps=0.0), r"ppo Hparams.clip_eps = 0.0: must be > 0"),
    ("sac", sac.Hparams(tau=-0.1), r"sac Hparams.tau = -0.1: must lie in \[0, 1\]"),
    ("dagger", dagger.Hparams(learner_eps=2.0), r"dagger Hparams.learner_eps = 2.0: must lie in \[0, 1\]"),
    ("bc", bc.Hparams(lr="fast"), r"bc Hparams.lr = 'fast': expected a number"),
    # Names shared by other algorithms' Hparams (IQL, ValueDICE ...), checked by the same rules.
    ("x", NamedTuple("Hparams", [("expectile", float)])(1.2), r"x Hparams.expectile = 1.2: must lie in \(0, 1\)"),
    # at expectile 1 the negative residuals have no weight: V is only ever pushed up
    ("iql", algos.iql.Hparams(expectile=1.0), r"iql Hparams.expectile = 1.0: must lie in \(0, 1\)"),
    # IQ-Learn divides its chi^2 term by div_coef
    ("iqlearn", algos.iqlearn.Hparams(div_coef=0.0), r"iqlearn Hparams.div_coef = 0.0: must be > 0"),
    ("x", NamedTuple("Hparams", [("ortho_reg", float)])(-1.0), r"x Hparams.ortho_reg = -1.0: a coefficient"),
    # alpha = 1 leaves ValueDICE no expert term; above 1 the expert's weight is negative.
    ("valuedice", algos.valuedice.Hparams(replay_reg=1.0), r"valuedice Hparams.replay_reg = 1.0: must lie in \[0, 1\)"),
    ("valuedice", algos.valuedice.Hparams(replay_reg=-0.1), r"valuedice Hparams.replay_reg = -0.1: must lie in"),
    # ValueDICE's p0 term carries 1 - gamma; other algorithms keep gamma = 1 (below).
    ("valuedice", algos.valuedice.Hparams(gamma=1.0), r"valuedice Hparams.gamma = 1.0: must lie in \[0, 1\): ValueDICE"),
    ("valuedice", algos.valuedice.Hparams(gamma=-0.5), r"valuedice Hparams.gamma = -0.5: must lie in \[0, 1\)"),
])
def test_nonsensical_hparams_name_algo_field_and_value(algo, hparams, message):
    with pytest.raises(ValueError, match=message):
        validate.check_hparams(hparams, algo)


def test_swept_hparams_name_the_run():
    lrs = np.array([1e-3, 3e-3, -1e-2, 1e-2], np.float32)
    with pytest.raises(ValueError, match=r"bc Hparams.lr\[2\] = -0.0099.*: a learning rate must be >= 0 \(run 2"):
        validate.check_hparams(bc.Hparams(lr=lrs), "bc")
    validate.check_hparams(bc.Hparams(lr=np.abs(lrs)), "bc")
    # gamma = 1 (an undiscounted finite horizon) is refused only where an algorithm needs gamma < 1.
    validate.check_hparams(ppo.Hparams(gamma=1.0), "ppo")
    validate.check_hparams(algos.valuedice.Hparams(gamma=0.999), "valuedice")
    # A negative reward scale flips the reward: odd, but allowed.
    validate.check_hparams(ppo.Hparams(reward_scale=-1.0), "ppo")


def test_nested_hparams_are_checked_with_their_path():
    class Outer(NamedTuple):
        learner: ppo.Hparams
        disc_lr: float = 1e-3

    with pytest.raises(ValueError, match=r"x Outer.learner.lr = -1.0: a learning rate"):
        validate.check_hparams(Outer(ppo.Hparams(lr=-1.0)), "x")


def test_unknown_names_suggest_the_closest():
    err = validate.unknown_name("algorithm", "gial", ["bc", "dagger", "gail", "airl", "ppo", "sac"])
    assert str(err).startswith("unknown algorithm 'gial'. Did you mean 'gail'?")
    assert "Known algorithms: airl, bc, dagger, gail, ppo, sac" in str(err)
    assert "Did you mean" not in str(validate.unknown_name("algorithm", "zzzz", ["bc", "gail"]))
    with pytest.raises(ValueError, match="unknown env 'halfchetah'. Did you mean 'halfcheetah'?"):
        envs.make("halfchetah")
    with pytest.raises(ValueError, match="unknown env 'Pendulum'. Did you mean 'pendulum'?"):
        envs.make("Pendulum")


def small_demos(lengths):
    n = sum(lengths)
    ep = np.repeat(np.arange(len(lengths)), lengths)
    return data.make_demos(np.zeros((n, 4)), np.zeros(n, int), np.zeros((n, 4)), np.zeros(n), np.zeros(n, bool),
                           np.zeros(n, bool), ep)


def test_batch_larger_than_the_demos():
    demos = small_demos([30, 70])
    validate.check_batch_size(bc.Config(batch_size=100), demos, "bc")
    with pytest.raises(ValueError, match=r"bc Config.batch_size = 256 is larger than the demos: 100 transitions. "
                                         r"Use more trajectories or a batch_size of at most 100"):
        validate.check_batch_size(bc.Config(), demos, "bc")
    with pytest.raises(ValueError, match=r"gail Config.disc_batch = 256 is larger than the demos: 100"):
        validate.check_batch_size(algos.gail.Config(), demos, "gail")
    # SAC's replay batch samples the learner's own transitions, not the demos.
    assert validate.batch_fields(algos.gail.Config(learner="sac", disc_batch=64)) == {"disc_batch": 64}
    # Demo subsets padded to one shape: the smallest real subset counts.
    stacked = data.stack_subsets(demos, [1, 2])
    with pytest.raises(ValueError, match=r"batch_size = 64 is larger than the demos: 30 transitions \(run 0 of 2"):
        validate.check_batch_size(bc.Config(batch_size=64), stacked, "bc")


# ---- value checks of make_demos / validate ----------------------------------------------

def test_integer_casts_refuse_wrap_around():
    d = small_demos([3])
    with pytest.raises(DemosError, match=r"array 'action' holds 4294967296, outside the range of int32"):
        data.make_demos(*d[:1], np.array([0, 2**32, 1]), *d[2:7])
    with pytest.raises(DemosError, match=r"array 'episode' holds -2147483649"):
        data.make_demos(*d[:6], np.array([0, 0, -2**31 - 1]))
    with pytest.raises(DemosError, match=r"array 'reward' holds 1e\+300, too large for float32"):
        data.make_demos(*d[:3], np.array([0.0, 1e300, 0.0]), *d[4:7])


def test_continuous_actions_outside_the_env_bounds():
    spec = envs.make("pendulum").spec
    n = 4
    action = np.array([[0.5], [-2.0], [2.0], [2.5]], np.float32)
    d = data.make_demos(np.zeros((n, 3)), action, np.zeros((n, 3)), np.zeros(n), np.zeros(n, bool),
                        np.zeros(n, bool), np.zeros(n, int))
    with pytest.raises(DemosError, match=r"demos: action \[2.5\] at row 3 \(episode 0\) is outside the bounds of env "
                                         r"'pendulum' in dimension 0: \[-2.0, 2.0\]"):
        data.validate(d, spec)
    data.validate(d._replace(action=np.clip(action, -2, 2)), spec)  # the bounds themselves are fine
    unbounded = dataclasses.replace(spec, action_low=None, action_high=None)
    data.validate(d, unbounded)


def test_a_zero_learning_rate_is_a_legitimate_control():
    validate.check_hparams(bc.Hparams(lr=0.0), "bc")
