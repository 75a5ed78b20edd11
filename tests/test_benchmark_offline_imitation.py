"""benchmarks.offline_imitation's goal check (ValueDICE against GAIL), on hand-made rows, and the
env-steps-to-target helpers of jaxil.eval it uses."""

import json
import os
import re

import numpy as np
import pytest

from benchmarks import offline_imitation as oi
from jaxil import eval as ev


def _row(method, reach, finals, budget):
    return {"method": method, "seeds": len(reach), "env_steps_to_target": reach, "final_worst": min(finals),
            "eval_env_steps": [budget // 2, budget]}


def test_first_reaching_takes_each_run_s_first_evaluation_at_the_target():
    steps = [100, 200, 300]
    curve = np.array([[0.5, 0.95, 0.2],
                      [0.9, 0.80, 0.3],
                      [0.2, 0.99, 0.4]])  # [evaluations, runs]
    assert ev.first_reaching(steps, curve, 0.9) == [200, 100, None]  # 0.9 itself counts; a later dip does not undo it


def test_censored_median_counts_a_seed_that_never_reached_as_infinite():
    assert ev.censored_median([10, 30, 20]) == 20
    assert ev.censored_median([10, None, 30, None]) == float("inf")  # the upper middle seed never reached it
    assert ev.censored_median([10, None, 30, 20]) == 25


def test_target_lines_by_hand():
    vd = _row("valuedice_online", [30_000, 50_000, 40_000, 60_000], [0.95, 0.91, 0.92, 0.97], 200_000)
    sac = _row("gail", [8_000, 10_000, 9_000, 12_000], [1.0, 1.0, 1.0, 1.0], 12_000)
    ppo = _row("gail_ppo", [None, 1_400_000, None, None], [0.1, 0.9, 0.2, 0.0], 2_048_000)
    head, vs_sac, vs_ppo, blank = oi.target_lines([vd, sac, ppo])
    assert "every seed at the end: True (final worst 0.910)" in head
    assert "4/4 seeds reached 0.9, median env steps 45000" in head
    # 45000 / 9500 = 4.737
    assert "gail: 4/4 seeds reached 0.9, median env steps 9500; ratio 4.737 (target <= 0.1: False)" in vs_sac
    # GAIL on PPO's median is censored at its 2048000 env steps: the ratio is below 45000 / 2048000 = 0.022
    assert "gail_ppo: 1/4 seeds reached 0.9, median env steps > 2048000" in vs_ppo
    assert "ratio is below 0.022 (target <= 0.1: True)" in vs_ppo
    assert blank == ""


def test_target_lines_report_the_many_episode_end_score_beside_the_16_episode_one():
    vd = _row("valuedice_online", [30_000, 50_000, 40_000, 60_000], [0.95, 0.91, 0.92, 0.97], 200_000)
    vd |= {"final_episodes": 128, "final_many": [0.93, 0.89, 0.94, 0.96]}
    sac = _row("gail", [8_000, 10_000, 9_000, 12_000], [1.0, 1.0, 1.0, 1.0], 12_000)
    head, many, vs_sac, blank = oi.target_lines([vd, sac])
    assert "every seed at the end: True" in head  # the 16-episode check stays the headline
    # (0.93 + 0.89 + 0.94 + 0.96) / 4 = 0.93; the worst seed, 0.89, is below 0.9
    assert many == ("- over 128 episodes at the end: >= 0.9 on every seed: False "
                    "(per seed 0.93 0.89 0.94 0.96; mean 0.930, worst 0.890).")
    assert "ratio 4.737" in vs_sac and blank == ""


def test_target_lines_judge_the_end_over_the_last_fifth_of_the_evaluations():
    vd = _row("valuedice_online", [5000, 5000], [0.95, 0.6], 50_000)
    vd["eval_env_steps"] = list(range(5000, 50_001, 5000))  # 10 evaluations: the window is the last 2
    vd["curve"] = [[0.5, 0.5]] * 8 + [[0.92, 0.98], [0.96, 0.6]]
    sac = _row("gail", [8_000, 10_000], [1.0, 1.0], 12_000)
    head, window, vs_sac, blank = oi.target_lines([vd, sac])
    # seed 0: (0.92 + 0.96) / 2 = 0.94; seed 1: (0.98 + 0.6) / 2 = 0.79
    assert window == ("- mean of the last 2 evaluations (45000-50000 env steps): >= 0.9 on every seed: False "
                      "(per seed 0.94 0.79; worst 0.790; lowest single evaluations 0.92 0.60).")
    assert "every seed at the end: False" in head and blank == ""


def test_target_lines_without_a_median_for_valuedice_or_without_gail():
    vd = _row("valuedice_online", [None, None, 30_000, 40_000], [0.2, 0.3, 0.95, 0.9], 200_000)
    ppo = _row("gail_ppo", [None] * 4, [0.0] * 4, 2_048_000)
    head, vs_ppo, _ = oi.target_lines([vd, ppo])
    assert "every seed at the end: False" in head and "2/4 seeds reached 0.9, median env steps never" in head
    assert "ratio not defined" in vs_ppo
    assert oi.target_lines([vd]) == []


def test_curve_lines_by_hand():
    row = {"method": "valuedice_online", "eval_env_steps": [5000, 10000, 15000, 20000],
           "curve": [[0.1, 0.3], [0.5, 0.2], [0.9, 1.0], [0.95, 0.85]],
           "curve_current_iterate": [[0.0, 0.0], [0.0, 0.0], [0.4, 0.6], [0.2, 1.0]]}
    head, blank, averaged, current, end = oi.curve_lines([row], points=2)
    assert averaged == "- valuedice_online: 10k 0.35 / 0.20, 20k 0.90 / 0.85"
    assert current == "- valuedice_online (current iterate): 10k 0.00 / 0.00, 20k 0.60 / 0.20"
    short = dict(row, eval_env_steps=[1000], curve=[[0.5]])
    del short["curve_current_iterate"]
    assert oi.curve_lines([short])[2] == "- valuedice_online: 1k 0.50 / 0.50"


@pytest.mark.parametrize("argv, says", [
    (["--set", "hidden=[64,64]"], "--set 'hidden=[64,64]': expected METHOD.FIELD=VALUE"),
    (["--set", "valuedice_onlin.actor_lr=1e-5"], "METHOD one of"),
    (["--methods", "valuedice_online,gial"], "--methods: unknown ['gial']"),
    (["--final-episodes", "-1"], "--final-episodes -1: must be >= 0"),
    (["--seeds", "0"], "--seeds 0: must be >= 1"),
    (["--online-trajectories", "0"], "--online-trajectories 0: must be >= 1"),
])
def test_bad_arguments_are_refused_by_name_before_anything_runs(argv, says, monkeypatch, capsys, tmp_path):
    ran = []
    monkeypatch.setattr(oi, "run_online", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(oi, "run_offline", lambda *a, **k: ran.append(a))
    with pytest.raises(SystemExit) as exit_:
        oi.main(argv + ["--out", str(tmp_path)])
    assert exit_.value.code == 2 and says in capsys.readouterr().err
    assert ran == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("item, says", [
    ("bc.no_such_field=1", "bc has no field 'no_such_field'"),
    ("bc.steps", "--set 'bc.steps': expected METHOD.FIELD=VALUE"),
    ("bc=3", "--set 'bc=3': expected METHOD.FIELD=VALUE"),
])
def test_a_bad_offline_assignment_fails_before_the_online_part_trains(item, says, monkeypatch, tmp_path):
    ran = []
    monkeypatch.setattr(oi, "run_online", lambda *a, **k: ran.append(a))
    with pytest.raises(SystemExit, match=re.escape(says)):
        oi.main(["--part", "all", "--set", item, "--out", str(tmp_path)])
    assert ran == [] and list(tmp_path.iterdir()) == []


def test_chunk_means_average_each_run_over_the_chunk_and_skip_what_is_not_per_step():
    nan = np.nan
    metrics = {"dv_objective": np.array([[1.0, 2.0, 6.0], [-1.0, -1.0, 2.0]]),
               "episode_return": np.array([[nan, -100.0, nan], [nan, nan, nan]]),  # run 1: no episode ended
               "episodes": np.ones((2, 3)), "scalar": np.array([1.0, 2.0])}
    means = oi.chunk_means(metrics)
    assert set(means) == {"dv_objective", "episode_return"}
    np.testing.assert_allclose(means["dv_objective"], [3.0, 0.0])
    np.testing.assert_allclose(means["episode_return"], [-100.0, nan])
    curves = oi.metric_curves([means, oi.chunk_means({k: v[:, :1] for k, v in metrics.items() if k != "scalar"})])
    assert curves["dv_objective"] == [[3.0, 0.0], [1.0, -1.0]]
    assert curves["episode_return"] == [[-100.0, None], [None, None]]
    json.dumps(curves, allow_nan=False)  # plain JSON: the missing values are null, not NaN
    assert oi.metric_curves([]) == {}


def test_saved_policies_go_beside_the_results_and_never_into_a_used_folder(monkeypatch, capsys, tmp_path):
    calls = []
    monkeypatch.setattr(oi, "run_online", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(oi, "write", lambda *a, **k: None)
    argv = ["--part", "online", "--methods", "valuedice_online", "--save-policies", "--online-pick", "3",
            "--tag", "t", "--out", str(tmp_path)]
    oi.main(argv)
    (args,) = calls
    stem = oi.result_stem(oi.argparse.Namespace(out=str(tmp_path), quick=False, tag="t"),
                          oi.datetime.date.today().isoformat(), oi.device_name())
    assert os.path.basename(stem).startswith("offline_imitation-") and stem.endswith("-t")
    assert args[0] == "valuedice_online" and args[-2:] == (stem + "-policies", 3)
    # A folder that already holds policies (an earlier run with this tag) is refused before training,
    # as is --save-policies without an online part.
    os.makedirs(stem + "-policies/valuedice_online/seed0")
    for extra, says in (([], "already holds policies; give another --tag"),
                        (["--part", "offline"], "--part offline has none")):
        with pytest.raises(SystemExit):
            oi.main(argv + extra)
        assert says in capsys.readouterr().err
    assert len(calls) == 1


def test_the_json_is_saved_before_the_report_renders(monkeypatch, tmp_path):
    def fail(stem, md):
        raise RuntimeError("render failed")

    monkeypatch.setattr(oi.report, "save_markdown", fail)
    args = oi.argparse.Namespace(out=str(tmp_path), quick=False, tag="t")
    meta = {"date": "2026-01-01", "device": "cpu", "jax": "x"}
    with pytest.raises(RuntimeError, match="render failed"):
        oi.write(args, meta, [], [], {})
    stored = json.load(open(oi.result_stem(args, "2026-01-01", "cpu") + ".json"))
    assert stored == {"meta": meta, "online": [], "offline": [], "replay_data": {}}


def test_a_chunk_whose_last_step_ended_no_episode_prints_nan_without_a_warning(capsys):
    """The progress line shows each metric at the chunk's last step; the episode return there is
    NaN in every run unless an episode ended on that step. It prints as nan, and numpy's all-NaN
    warning is not let through to the log."""
    import warnings

    from jaxil import data, envs, experts
    from jaxil.algos import valuedice

    env = envs.make("pendulum")  # 200-step episodes: none ends in 8 steps
    demos, _ = data.load_demos(experts.resolve_demos("pendulum"), env)
    config = valuedice.Config(num_envs=2, learning_starts=4, buffer_size=64, hidden=(8,), batch_size=8)
    s = oi.Setting(valuedice.make_train, config, valuedice.Hparams(), 8, 4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        row = oi.run_online("valuedice_online", s, env, data.to_jax(data.select_trajectories(demos, 1)), 2, 1)
    lines = [line for line in capsys.readouterr().out.splitlines() if "env steps: mean" in line]
    assert len(lines) == 2 and all("episode_return nan" in line for line in lines)
    assert row["metric_curves"]["episode_return"] == [[None, None], [None, None]]
