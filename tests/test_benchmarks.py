"""The benchmark suite's machinery on a tiny stand-in config: sections, goals, JSON, report."""

import datetime
import json
import os

import pytest

pytest.importorskip("matplotlib")

from benchmarks import report, suite as su  # noqa: E402


def _tiny_section(suite, log):
    log("tiny")
    return {"rows": [{"algo": "ppo", "env": "cartpole", "seeds": 2, "num_envs": 4, "loop_steps_per_s": 50.0,
                      "bare_steps_per_s": 200.0, "efficiency": 0.25, "chunk_steps": 1, "env_steps_per_call": 8,
                      "policy": {"kind": "categorical", "hidden": [8], "activation": "tanh"},
                      "compile": {"init": {"trace_s": 0.1, "compile_s": 0.2},
                                  "chunk": {"trace_s": 0.3, "compile_s": 0.4}},
                      "description": "tiny"},
                     {"algo": "valuedice", "env": "cartpole", "seeds": 2, "skipped": "not installed"}],
            "goals": [su._goal("loop efficiency PPO", ">= 0.5", 0.25, False)]}


def _broken_section(suite, log):
    raise RuntimeError("boom")


def test_suite_writes_goals_json_and_report(tmp_path, monkeypatch):
    monkeypatch.setattr(su, "SECTIONS", {"loop_efficiency": _tiny_section, "compile_time": su.compile_times,
                                         "peers": _broken_section})
    monkeypatch.setattr(su.compile_time, "run_all", lambda algos, seeds, log=print: [])
    suite = su.Suite("tiny", compile_extra=())
    result, md = su.run(suite, str(tmp_path), log=lambda m: None)
    stored = json.load(open(os.path.splitext(md)[0] + ".json"))
    assert stored["suite"] == "tiny" and stored["goals"] == json.loads(json.dumps(result["goals"]))
    for g in stored["goals"]:
        assert set(g) >= {"name", "target", "measured", "met"} and isinstance(g["met"], bool)
    names = [g["name"] for g in stored["goals"]]
    assert names[0] == "loop efficiency PPO"
    # a failed section keeps its goals in the list, not met, with the error
    failed = [g for g in stored["goals"] if "section failed" in g.get("note", "")]
    assert len(failed) == len(su.EXPECTED_GOALS["peers"]) and not any(g["met"] for g in failed)
    assert "boom" in stored["sections"]["peers"]["error"]
    # compile times come from the loop-efficiency rows, apart from run time
    (row,) = stored["sections"]["compile_time"]["rows"]
    assert row["compile_s"] == 0.4 and row["run_s"] == pytest.approx(8 / 50.0)
    text = open(md).read()
    assert "| loop efficiency PPO | >= 0.5 | 0.25 | not met |" in text
    assert "Section failed: `RuntimeError: boom`" in text
    assert "not measured: not installed" in text
    for plot in ("loop_efficiency.png", "compile_time.png"):
        assert os.path.exists(os.path.join(os.path.splitext(md)[0], plot)) and plot in text


def test_peer_goal_needs_speed_and_score():
    jaxil_row = {"seeds": 16, "speedup_time_to_0.9": 150.0, "speedup_kind": "exact", "final_normalized_mean": 0.95,
                 "final_normalized_worst": 0.9, "score_at_least_peer": True, "per_seed_time_to_0.9_s": 0.5,
                 "seeds_reaching_0.9": 16, "env_steps_per_s": 1e5, "wall_s_end_to_end": 8.0}
    comparison = {"algo": "gail", "env": "cartpole", "budget_env_steps": 1000, "trajectories": 1,
                  "jaxil": [jaxil_row], "imitation": {"final_normalized_mean": 0.9}}
    assert su._peer_goal(comparison)["met"]
    low = dict(comparison, jaxil=[dict(jaxil_row, score_at_least_peer=False)])
    assert not su._peer_goal(low)["met"]
    absent = dict(comparison, imitation={"skipped": "imitation library not installed"})
    g = su._peer_goal(absent)
    assert g["measured"] is None and not g["met"] and "not installed" in g["note"]
    rows = report.peer_rows({"comparisons": [absent]})
    assert "not installed" in "\n".join(report._peer_table(rows))


def test_results_are_written_in_one_step_and_a_failed_write_keeps_the_earlier_files(tmp_path, monkeypatch):
    stem = str(tmp_path / "new" / "folder" / "run")  # the folder is made
    report.save_json(stem, {"score": [0.9, 0.95]})
    assert report.save_markdown(stem, "# run\n\n| a |\n\n\n") == "# run\n\n| a |\n\n\n"
    assert json.load(open(stem + ".json")) == {"score": [0.9, 0.95]}
    assert open(stem + ".md").read() == "# run\n\n| a |\n"  # one newline at the end
    # A payload that is not JSON, or a write that fails at its last step, raises and leaves the
    # saved run as it was, with no temporary file beside it.
    with pytest.raises(TypeError):
        report.save_json(stem, {"score": object()})

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report.save_json(stem, {"score": [0.1]})
    with pytest.raises(OSError, match="disk full"):
        report.save_markdown(stem, "# another run")
    monkeypatch.undo()
    assert json.load(open(stem + ".json")) == {"score": [0.9, 0.95]}
    assert open(stem + ".md").read() == "# run\n\n| a |\n"
    assert sorted(os.listdir(os.path.dirname(stem))) == ["run.json", "run.md"]


def test_result_stem_names_benchmark_date_device_and_the_given_parts(monkeypatch):
    assert report.result_stem("out", "peers", "2026-01-01", "quick", "gail", device="cpu") == \
        os.path.join("out", "peers-2026-01-01-cpu-quick-gail")
    # Empty parts (no --quick, no --tag) and an empty name (the suite's own files) leave no dash behind.
    assert report.result_stem("out", "mce_irl", "2026-01-01", "", "", device="cpu") == \
        os.path.join("out", "mce_irl-2026-01-01-cpu")
    assert report.result_stem("out", "", "2026-01-01", "quick", device="cpu") == \
        os.path.join("out", "2026-01-01-cpu-quick")
    # The device defaults to the card's kind, not only the platform: two kinds of GPU never share a name.
    monkeypatch.setattr(report, "device_name", lambda: "nvidia-h100-80gb-hbm3")
    assert report.result_stem("o", "bc_throughput", "2026-01-01") == \
        os.path.join("o", "bc_throughput-2026-01-01-nvidia-h100-80gb-hbm3")


def test_offline_rl_writes_its_results_into_out_and_nowhere_else(tmp_path, monkeypatch):
    from benchmarks import offline_rl

    # A card name the platform can never be, so that naming files by the platform fails here too.
    monkeypatch.setattr(report, "device_name", lambda: "test-card")
    tag = f"test{os.getpid()}"
    offline_rl.main(["--envs", "cartpole", "--seeds", "1", "--iql-steps", "1", "--bc-steps", "1", "--no-sqil",
                     "--tag", tag, "--out", str(tmp_path)])
    results = os.path.join(os.path.dirname(report.__file__), "results")
    assert not [f for f in os.listdir(results) if tag in f]  # nothing written into the repository's results
    [stem] = {os.path.splitext(f)[0] for f in os.listdir(tmp_path)}
    assert stem == f"offline_rl-{datetime.date.today().isoformat()}-test-card-{tag}"
    saved = json.load(open(tmp_path / f"{stem}.json"))
    assert saved["device"] == "test-card" and saved["seeds"] == 1 and list(saved["offline"]) == ["cartpole"]
    assert "## cartpole" in open(tmp_path / f"{stem}.md").read()
