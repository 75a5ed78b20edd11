import json
import os

import jax
import numpy as np
import pytest

import jaxil
from jaxil import cli, data, envs, policy as pol

KEYS = {"algo", "env", "num_seeds", "return", "normalized_return", "env_steps", "wall_s", "config", "hparams", "versions"}


def test_train_ppo_writes_results(tmp_path):
    out = str(tmp_path / "run")
    cli.main(["train", "ppo", "--env", "cartpole", "--seeds", "2", "--steps", "4", "--out", out])
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)
    assert KEYS <= set(res)
    assert res["algo"] == "ppo" and res["env"] == "cartpole" and res["num_seeds"] == 2
    assert len(res["return"]) == 2 and res["env_steps"] == 4 * 512
    assert res["versions"]["jax"] == jax.__version__
    assert os.path.exists(os.path.join(out, "metrics.csv")) and os.path.exists(os.path.join(out, "curve.png"))


def test_train_unknown_env_is_clear():
    with pytest.raises(ValueError, match="unknown env 'cartpol'"):
        cli.main(["train", "ppo", "--env", "cartpol", "--steps", "1"])


def test_console_command_reports_a_bad_input_in_one_line(capsys, monkeypatch):
    """`jaxil ...` (cli.run): a bad input is `jaxil: error: ...` on stderr and exit status 2, no
    traceback; JAXIL_TRACEBACK=1 raises it as main() does."""
    monkeypatch.delenv("JAXIL_TRACEBACK", raising=False)
    assert cli.run(["train", "ppo", "--env", "cartpol", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxil: error: unknown env 'cartpol'") and "Traceback" not in err
    assert cli.run(["train", "valuedice", "--env", "pendulum", "--steps", "1"]) == 2
    assert "valuedice learns from demonstrations: give --demos" in capsys.readouterr().err
    monkeypatch.setenv("JAXIL_TRACEBACK", "1")
    with pytest.raises(ValueError, match="unknown env 'cartpol'"):
        cli.run(["train", "ppo", "--env", "cartpol", "--steps", "1"])


def test_console_command_keeps_the_traceback_of_a_value_error_that_is_not_a_bad_input(capsys, monkeypatch):
    """Only jaxil's InputError (and a missing path) is shortened: a plain ValueError, as numpy
    or JAX raise on a bug, propagates with its traceback."""
    monkeypatch.delenv("JAXIL_TRACEBACK", raising=False)

    def broken(argv):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(cli, "main", broken)
    with pytest.raises(ValueError, match="could not be broadcast") as info:
        cli.run([])
    assert not isinstance(info.value, jaxil.InputError)
    assert capsys.readouterr().err == ""

    def bad_input(argv):
        raise jaxil.InputError("--seeds must be >= 1, got 0")

    monkeypatch.setattr(cli, "main", bad_input)
    assert cli.run([]) == 2
    assert capsys.readouterr().err == "jaxil: error: --seeds must be >= 1, got 0\n"


def test_every_check_of_a_bad_input_raises_input_error():
    """The checks the console command shortens are InputErrors: a bad hyperparameter, bad
    demos, an unknown env."""
    from jaxil.data.demos import DemosError

    assert issubclass(DemosError, jaxil.InputError) and issubclass(jaxil.InputError, ValueError)
    with pytest.raises(jaxil.InputError, match="unknown env 'cartpol'"):
        cli.main(["train", "ppo", "--env", "cartpol", "--steps", "1"])
    with pytest.raises(jaxil.InputError, match="--seeds must be >= 1"):
        cli.main(["sweep", "bc", "--env", "cartpole", "--demos", "cartpole", "--seeds", "0"])


def test_collect_from_saved_policy(tmp_path):
    env = envs.make("cartpole")
    spec = pol.PolicySpec(env.spec, "categorical", (8,))
    pol.save_policy(str(tmp_path / "p"), spec, spec.init(jax.random.PRNGKey(0)), {"expert_return": 500.0,
                                                                                   "random_return": 20.0})
    out = str(tmp_path / "d.npz")
    cli.main(["collect", "--policy", str(tmp_path / "p"), "--episodes", "3", "--out", out])
    demos, meta = data.load_demos(out, env)
    assert len(meta.returns) == 3 and meta.expert_return == 500.0
    np.testing.assert_allclose(data.episode_returns(demos), meta.returns)


def test_train_dagger_queries_the_shipped_expert(tmp_path):
    out = str(tmp_path / "dagger")
    res = cli.train("dagger", env="cartpole", demos="cartpole", num_trajectories=1, seeds=2, steps=1, out=out)
    assert res["algo"] == "dagger" and res["expert"] == "cartpole" and res["num_trajectories"] == 1
    assert res["env_steps"] == 4 * 500 and len(res["normalized_return"]) == 2
    with pytest.raises(ValueError, match="does not query an expert"):
        cli.train("bc", env="cartpole", demos="cartpole", steps=1, expert="cartpole", out=out)


def test_env_options_parse():
    from jaxil import runs

    assert runs.parse_env("point_maze:wall=right,speed=0.1,horizon=50") == (
        "point_maze", {"wall": "right", "speed": 0.1, "horizon": 50})
    assert runs.parse_env("cartpole") == ("cartpole", {})
    with pytest.raises(ValueError, match="key=value"):
        runs.parse_env("point_maze:wall")


def test_train_sac_on_a_saved_reward_in_a_changed_env(tmp_path):
    from jaxil import rewards

    env = envs.make("point_maze", wall="left")
    spec = rewards.RewardSpec(env.spec, (8,), "tanh", "s", "raw", "test")
    params = rewards.LearnedReward(spec.net().init(jax.random.PRNGKey(0), np.zeros(2, np.float32)),
                                   pol.ObsNorm.create(2))
    rewards.save_reward(str(tmp_path / "r"), spec, params)
    out = str(tmp_path / "sac")
    res = cli.train("sac", env="point_maze:wall=right", reward=str(tmp_path / "r"), seeds=2, steps=2, out=out)
    assert res["reward"] == str(tmp_path / "r") and res["env_steps"] == 2 * 4
    with pytest.raises(ValueError, match="obs_size=2, but env 'pendulum' has 3"):
        cli.train("sac", env="pendulum", reward=str(tmp_path / "r"), seeds=1, steps=1, out=out)
    with pytest.raises(ValueError, match="re-optimises a learned reward"):
        cli.train("bc", env="cartpole", demos="cartpole", reward=str(tmp_path / "r"), out=out)


@pytest.mark.slow  # compiles offline ValueDICE; the offline wiring's refusals stay in the suite
def test_train_offline_valuedice_learns_from_expert_and_replay_data(tmp_path):
    # The default replay data, mixed:ENV, costs 100 episodes of rollouts: the shipped demos stand in.
    result = cli.train("valuedice", env="cartpole", demos="cartpole", num_trajectories=2, seeds=2, steps=1,
                       offline=True, replay="cartpole", out=str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["offline"] is True and saved["replay"] == "cartpole"
    assert saved["env_steps"] == 0 and saved["config"]["offline"] is True
    assert len(result["return"]) == 2 and np.all(np.isfinite(result["return"]))


def test_train_offline_switch_and_replay_are_refused_where_they_do_not_apply(tmp_path):
    with pytest.raises(ValueError, match="always offline"):
        cli.train("iql", env="cartpole", demos="cartpole", offline=True, out=str(tmp_path))
    with pytest.raises(ValueError, match="--replay"):
        cli.train("valuedice", env="cartpole", demos="cartpole", replay="cartpole", out=str(tmp_path))
    with pytest.raises(ValueError, match="Did you mean 'valuedice'"):
        cli.train("valuedise", env="cartpole", demos="cartpole", out=str(tmp_path))


@pytest.mark.slow  # the README's main job: PPO, BC, DAgger, GAIL and AIRL compile in turn (minutes)
def test_quickstart_runs_every_row_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "qs"
    cli.main(["quickstart", "--out", str(out), "--seeds", "2"])
    printed = capsys.readouterr().out
    rows = ["ppo (env reward)"] + [f"{a}, {k} traj" for a in ("bc", "dagger") for k in (1, 4, 10)] + \
        ["gail, 1 traj", "airl, 1 traj"]
    for name in rows:
        assert name in printed, (name, printed)
    assert (out / "quickstart.png").exists()
    results = {d: json.loads((out / d / "results.json").read_text()) for d in os.listdir(out) if (out / d).is_dir()}
    assert len(results) == len(rows) and all(len(r["return"]) == 2 for r in results.values())
    # Cartpole from 10 shipped trajectories: BC's and DAgger's worst seed at the expert's level.
    for algo in ("bc", "dagger"):
        assert min(results[f"{algo}-10traj"]["normalized_return"]) >= 0.9, results[f"{algo}-10traj"]
