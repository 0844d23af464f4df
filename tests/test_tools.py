"""The everyday tools: results table, curves plot, grid search, reference launcher, model install."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import collect_results
import grid_search
import plot_curves
import readme_tables
from conftest import ROOT


# The scripts use an environment the user activated (this test's Python) instead of making a venv.
ACTIVE_ENV = {"VIRTUAL_ENV": sys.prefix, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}


def fake_run(folder, mode, seed, best, strategy=None, layers=3, steps=(100, 200), total_steps=None):
    os.makedirs(folder, exist_ok=True)
    r = {"task": "sst-2", "mode": mode, "strategy": strategy, "alpha": 0.7 if mode != "ft" else 0.0, "T": 10.0,
         "beta": 500.0 if mode == "pkd" else 0.0, "num_student_layers": layers, "seed": seed, "best_metric": best,
         "best_metric_name": "acc", "finished": True, "eval_on": ["dev"],
         "history": [{"step": s, "acc": best - 0.01 * (len(steps) - i - 1)} for i, s in enumerate(steps)],
         "total_steps": total_steps}
    json.dump(r, open(os.path.join(folder, "results.json"), "w"))
    return str(folder)


def test_collect_results_groups_seeds(tmp_path):
    fake_run(tmp_path / "teacher", "ft", 1, 0.90, layers=6)
    for seed, best in ((1, 0.80), (2, 0.82)):
        fake_run(tmp_path / f"ft{seed}", "ft", seed, best)
        fake_run(tmp_path / f"pkd{seed}", "pkd", seed, best + 0.01, strategy="skip")
    text = collect_results.table(collect_results.collect(collect_results.find_results([str(tmp_path)])))
    lines = text.splitlines()
    assert lines[0] == "| Model | SST-2 (dev acc) | n |"
    assert lines[2] == "| BERT6 (teacher) | 0.9000 | 1 |"
    assert lines[3] == "| BERT3-FT | 0.8100 ± 0.0141 | 2 |"
    assert lines[4] == "| BERT3-PKD-skip (α 0.7, T 10, β 500) | 0.8200 ± 0.0141 | 2 |"
    fake_run(tmp_path / "teacher_long", "ft", 1, 0.92, layers=6, total_steps=4000)  # another recipe: its own row
    lines = collect_results.table(collect_results.collect(collect_results.find_results([str(tmp_path)]))).splitlines()
    assert lines[2:4] == ["| BERT6 (teacher) | 0.9000 | 1 |", "| BERT6 (teacher), 4000 steps | 0.9200 | 1 |"]


def test_a_student_of_another_model_as_deep_as_the_teacher_is_not_called_the_teacher(tmp_path):
    fake_run(tmp_path / "teacher", "ft", 1, 0.90, layers=4)
    ft = os.path.join(fake_run(tmp_path / "ft", "ft", 1, 0.80, layers=4), "results.json")
    json.dump({**json.load(open(ft)), "student_model": "runs/narrow/random_4x256"}, open(ft, "w"))
    lines = collect_results.table(collect_results.collect(collect_results.find_results([str(tmp_path)]))).splitlines()
    assert set(lines[2:4]) == {"| BERT4 (teacher) | 0.9000 | 1 |", "| BERT4-FT from random_4x256 | 0.8000 | 1 |"}


def test_run_records_give_best_and_last(tmp_path):
    path = os.path.join(fake_run(tmp_path / "kd3", "kd", 3, 0.85, steps=(100, 200, 300)), "results.json")
    record = collect_results.run_record(path, json.load(open(path)))
    assert (record["mode"], record["seed"], record["alpha"], record["best"]) == ("kd", 3, 0.7, 0.85)
    assert (record["last"], record["last_step"]) == (0.85, 300)


def two_seeds_of_ft_and_kd(tmp_path):
    """Run records of FT and KD students, seeds 1 and 2, distilled from a teacher of acc 0.90."""
    records = []
    for seed, ft, kd in ((1, 0.80, 0.84), (2, 0.82, 0.81)):
        for mode, best in (("ft", ft), ("kd", kd)):
            path = os.path.join(fake_run(tmp_path / "final" / f"{mode}{seed}", mode, seed, best), "results.json")
            r = json.load(open(path))
            r["teacher_metrics"], r["teacher_layers"] = {"acc": 0.90}, 6
            records.append(collect_results.run_record(path, r))
    return records


def test_report_seeds_pairs_runs_by_seed_and_closes_the_gap(tmp_path):
    import report_seeds

    records = two_seeds_of_ft_and_kd(tmp_path)
    path = os.path.join(fake_run(tmp_path / "final" / "ft3", "ft", 3, 0.99), "results.json")
    records.append(collect_results.run_record(path, json.load(open(path))))  # FT alone has seed 3: not in the means
    text = report_seeds.report(records, "t")
    assert "| ft | 0.8100 ± 0.0141 | 0.8100 ± 0.0141 | 0.8000 / 0.8000 | 0.8200 / 0.8200 | 0.9900 / 0.9900 |" in text
    assert "| kd - ft | +1.50 | +4.00 | -1.00 | - | 1 of 2 |" in text
    assert "kd 17%" in text  # (0.825 - 0.81) / (0.90 - 0.81)


def test_readme_tables_are_written_from_the_runs_json(tmp_path):
    records = two_seeds_of_ft_and_kd(tmp_path)
    path = os.path.join(fake_run(tmp_path / "final" / "ft3", "ft", 3, 0.99), "results.json")
    records.append(collect_results.run_record(path, json.load(open(path))))  # seed 3 of FT alone: left out
    json.dump(records, open(tmp_path / "runs.json", "w"))
    page = ("text\n<!-- table students runs.json -->\n| typed by hand | 0.99 |\n<!-- end table -->\n"
            "<!-- table paired runs.json -->\n<!-- end table -->\nmore text\n")
    text = readme_tables.render(page, root=str(tmp_path))
    assert "0.99" not in text and text.startswith("text\n") and text.endswith("<!-- end table -->\nmore text\n")
    assert "| BERT6 teacher | 0.9000 |" in text
    assert "| BERT3-FT | 0.8100 ± 0.0141 | 0.8100 ± 0.0141 |  | 1, 2 |" in text
    assert "| BERT3-KD (α 0.7, T 10) | 0.8250 ± 0.0212 | 0.8250 ± 0.0212 | 17% | 1, 2 |" in text
    assert "| kd - ft | +1.50 | 1 of 2 | +1.50 | 1 of 2 |" in text
    assert readme_tables.render(text, root=str(tmp_path)) == text
    with pytest.raises(ValueError, match="unknown table kind 'median'"):
        readme_tables.render("<!-- table median runs.json -->\n<!-- end table -->", root=str(tmp_path))
    lost_end = page.replace("<!-- end table -->\n<!-- table paired", "<!-- table paired", 1)
    with pytest.raises(ValueError, match="without its '<!-- end table -->'"):
        readme_tables.render(lost_end, root=str(tmp_path))


def test_transfer_runs_are_their_own_modes_and_the_size_table_reads_them(tmp_path):
    records = two_seeds_of_ft_and_kd(tmp_path)
    for where, seed, examples, best in (("final/kdt1", 1, 60000, 0.88), ("final/kdt2", 2, 60000, 0.86),
                                        ("transfer_size/kdt5k", 1, 5000, 0.85)):
        path = os.path.join(fake_run(tmp_path / where, "kd", seed, best), "results.json")
        r = dict(json.load(open(path)), transfer_examples=examples, teacher_metrics={"acc": 0.90}, teacher_layers=6)
        records.append(collect_results.run_record(path, r))
    json.dump(records, open(tmp_path / "runs.json", "w"))
    page = "<!-- table students runs.json -->\n<!-- end table -->\n<!-- table transfer_size runs.json -->\n" \
           "<!-- end table -->\n<!-- table paired runs.json -->\n<!-- end table -->\n"
    text = readme_tables.render(page, root=str(tmp_path))
    assert "| BERT3-KD (α 0.7, T 10) + transfer 60,000 | 0.8700 ± 0.0141 |" in text
    assert "| BERT3-KD (α 0.7, T 10) | 0.8250 ± 0.0212 |" in text  # the labelled-only KD stays its own row
    assert "| 0 | 0.8400 |" in text and "| 5,000 | 0.8500 | 0.8500 | +1.00 |" in text
    assert "| 60,000 | 0.8800 | 0.8800 | +4.00 |" in text
    assert "| kd_transfer - kd | +4.50 | 2 of 2 |" in text


def test_readme_and_experiments_tables_match_the_committed_json():
    for page in readme_tables.PAGES:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        assert "<!-- table " in text and readme_tables.render(text) == text, f"{page}: run scripts/readme_tables.py"


def test_plot_curves_writes_a_png(tmp_path):
    runs = [fake_run(tmp_path / f"r{i}", "kd", i, 0.8 + i / 100) for i in range(3)]
    out = plot_curves.plot(runs, ["kd", "kd", "other"], str(tmp_path / "c.png"))
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_grid_is_the_papers_and_commands_pass_flags():
    points = grid_search.grid_points(grid_search.GRID)
    assert len(points) == 36 and {"T": 20, "alpha": 0.7, "beta": 1000} in points
    cmd = grid_search.command({"T": 5, "alpha": 0.2, "beta": 10}, "out/x", ["--task_name", "SST-2"])
    assert cmd[-6:] == ["--T=5", "--alpha=0.2", "--beta=10", "--output_dir", "out/x"][-6:] or "--T=5" in cmd


def test_grid_search_runs_and_skips_finished(sst2_dir, tiny_bert, teacher_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(grid_search, "GRID", {"T": (5,), "alpha": (0.5,), "beta": (10, 100)})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    flags = ["--task_name", "SST-2", "--data_dir", sst2_dir, "--model_name_or_path", tiny_bert,
             "--teacher_finetuned_model_path", teacher_dir, "--num_layers_of_student_model", "2", "--max_steps", "4",
             "--save_steps", "4", "--batch_size", "16", "--max_seq_length", "32", "--holdout_from_train", "50",
             "--device", "cpu"]
    monkeypatch.setattr(sys, "argv", ["grid_search.py", "--out", str(tmp_path), "--", *flags])
    grid_search.main()
    for name in ("T5_alpha0.5_beta10", "T5_alpha0.5_beta100"):
        r = json.load(open(tmp_path / name / "results.json"))
        assert r["finished"] and r["eval_on"] == ["holdout"] and r["beta"] == float(name.rsplit("beta", 1)[1])
    mtime = os.path.getmtime(tmp_path / "T5_alpha0.5_beta10" / "results.json")
    grid_search.main()
    assert os.path.getmtime(tmp_path / "T5_alpha0.5_beta10" / "results.json") == mtime


def test_reference_launcher_runs_in_the_background_and_install(sst2_dir, tiny_bert, tmp_path):
    env = dict(os.environ, MODEL=tiny_bert, DATA_DIR=sst2_dir, OUT_ROOT=str(tmp_path / "runs"),
               LOG_DIR=str(tmp_path / "logs"), CUDA_VISIBLE_DEVICES="", **ACTIVE_ENV)
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "reference", "sst2_teacher.sh"),
                          "--num_layers_of_student_model", "2", "--max_steps", "3", "--device", "cpu"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "started SST-2 teacher" in out.stdout
    results = tmp_path / "runs" / "SST-2" / "teacher" / "results.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (results.exists() and json.load(open(results))["finished"]):
        time.sleep(0.5)
    assert json.load(open(results))["finished"], open(tmp_path / "logs" / "SST-2_teacher.log").read()[-2000:]
    work = tmp_path / "project"
    os.makedirs(work / "scripts")
    subprocess.run(["cp", os.path.join(ROOT, "scripts", "install_model.sh"), str(work / "scripts")], check=True)
    done = subprocess.run(["bash", str(work / "scripts" / "install_model.sh"), str(results.parent), "SST-2"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (work / "pretrained_models" / "SST-2" / "model.safetensors").is_file()
    bad = subprocess.run(["bash", str(work / "scripts" / "install_model.sh"), str(tmp_path / "nothing"), "SST-2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


@pytest.mark.parametrize("args", [["XX", "ft"], ["SST-2", "distill"]])
def test_reference_launcher_rejects_unknown_task_or_mode(args):
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "reference", "launch.sh"), *args],
                         capture_output=True, text=True, env=dict(os.environ, **ACTIVE_ENV))
    assert out.returncode == 2 and out.stderr.startswith("error:")


def dry_run(script, tmp_path, **env):
    """The run_patient_kd.py commands an experiment script prints under DRY_RUN=1, parsed and checked like a run's
    flags (placeholders of weights it would choose on held-out data filled in)."""
    import shlex

    from args import build_parser, check_args, mode_of

    env = {**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path / "out"), **env}
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", script)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stdout.splitlines() if "publish_results.sh" in line]
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
    parsed = []
    for line in proc.stdout.splitlines():
        if line.startswith("python run_patient_kd.py"):
            argv = [{"<alpha>": "0.9", "<T>": "10", "<beta>": "500"}.get(a, a) for a in shlex.split(line)[2:]]
            args = build_parser().parse_args(argv)
            args.mode, args.eval_steps = mode_of(args.alpha, args.beta), args.eval_steps or args.save_steps
            args.T = args.T or 10.0
            check_args(args)  # every flag valid; --device gpu itself is checked at run time
            parsed.append(args)
    assert len({a.output_dir for a in parsed}) == len(parsed)
    return parsed


@pytest.mark.parametrize("script", sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "scripts",
                                                                                      "reproduce_*.sh"))))
def test_every_experiment_dry_runs_valid_commands_and_writes_nothing(script, tmp_path):
    assert dry_run(script, tmp_path, CUDA_VISIBLE_DEVICES="0", LOW="low")


def test_gpu_experiment_dry_run_prints_valid_commands(tmp_path):
    runs = dry_run("reproduce_sst2_gpu.sh", tmp_path, CUDA_VISIBLE_DEVICES="0")
    assert len(runs) == 1 + 6 + 3 + 4 * 5  # teacher, KD sweep, PKD sweep, 4 modes x 5 seeds
    assert all(a.device == "gpu" and a.use_amp and a.task_name == "sst-2" for a in runs)


def test_narrow_experiment_trains_the_random_student_with_and_without_the_transfer_set(tmp_path):
    runs = dry_run("reproduce_chnsenticorp_narrow.sh", tmp_path, LOW="low")
    assert len(runs) == 5 * 3  # FT, KD, PKD-skip, KD and PKD-skip with the transfer set; 3 seeds
    assert {a.student_model_name_or_path for a in runs} == {str(tmp_path / "out" / "random_4x256")}
    assert {a.teacher_finetuned_model_path for a in runs} == {"low/teacher/best_model"}
    assert sum(bool(a.transfer_file) for a in runs) == 2 * 3 and {a.max_steps for a in runs} == {600}


def test_publish_results_copies_finished_runs_and_writes_the_report(tmp_path):
    out, results = tmp_path / "my runs", tmp_path / "results"  # a space: paths stay quoted
    fake_run(out / "teacher", "ft", 0, 0.90, layers=6)
    for seed in (1, 2):
        fake_run(out / "final" / f"ft_seed{seed}", "ft", seed, 0.80 + seed / 100)
        fake_run(out / "final" / f"kd_seed{seed}", "kd", seed, 0.84)
    unfinished = json.load(open(fake_run(out / "final" / "kd_seed3", "kd", 3, 0.5) + "/results.json"))
    json.dump({**unfinished, "finished": False}, open(out / "final" / "kd_seed3" / "results.json", "w"))
    (out / "teacher.txt").write_text("teacher: teacher\n")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "publish_results.sh"), str(out), "exp", "Exp"],
                          capture_output=True, text=True, env={**os.environ, **ACTIVE_ENV, "RESULTS": str(results)},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    copied = sorted(str(p.relative_to(results)) for p in results.rglob("results.json"))
    assert copied == ["exp_runs/final/ft_seed1/results.json", "exp_runs/final/ft_seed2/results.json",
                      "exp_runs/final/kd_seed1/results.json", "exp_runs/final/kd_seed2/results.json",
                      "exp_runs/teacher/results.json"]
    assert (results / "exp_runs" / "teacher.txt").read_text() == "teacher: teacher\n"
    records = json.load(open(results / "exp.json"))
    assert sorted(r["run"] for r in records)[0] == "exp_runs/final/ft_seed1"
    assert "| kd - ft | +2.50 | +3.00 | +2.00 | 2 of 2 |" in (results / "exp_report.md").read_text()
    assert open(results / "exp.png", "rb").read(4) == b"\x89PNG"
    assert "| BERT3-FT | 0.8150 ± 0.0071 | 2 |" in (results / "exp.md").read_text()
    shutil.rmtree(out / "final" / "kd_seed2")  # published again: the copies are what OUT has now
    assert subprocess.run(proc.args, capture_output=True, env={**os.environ, **ACTIVE_ENV, "RESULTS": str(results)},
                          timeout=120).returncode == 0
    assert not (results / "exp_runs" / "final" / "kd_seed2").exists()
    assert [p.name for p in results.iterdir() if p.name.startswith(".")] == []


def test_a_count_that_differs_by_seed_is_shown_as_its_range(tmp_path):
    assert collect_results.count_range([10590, 10486, 10490]) == (10486, 10590)
    assert collect_results.count_range([10590]) == 10590
    # one setting, copies that differ by seed: one row over seeds (older files lack the "augment" field)
    for seed, copies, setting in ((1, 10590, None), (2, 10486, None), (3, 10490, None), (4, 20950, 40)):
        path = os.path.join(fake_run(tmp_path / f"aug{seed}", "kd", seed, 0.8 + seed / 100), "results.json")
        r = dict(json.load(open(path)), transfer_examples=66349, augmented_examples=copies)
        json.dump(r if setting is None else dict(r, augment=setting), open(path, "w"))
    lines = collect_results.table(collect_results.collect(collect_results.find_results([str(tmp_path)]))).splitlines()
    assert lines[2:] == ["| BERT3-KD (α 0.7, T 10) + transfer 66,349 + augmented 10,486-10,590 | 0.8200 ± 0.0100 | 3 |",
                         "| BERT3-KD (α 0.7, T 10) + transfer 66,349 + augmented 20,950 | 0.8400 | 1 |"]
    assert collect_results.data_label(66349, (10486, 10590)) == " + transfer 66,349 + augmented 10,486-10,590"
