"""Own files: CSV, TSV and JSON Lines with named columns and string labels, through training, export and predict."""
import csv
import json
import os
import random

import pytest

import predict
import run_patient_kd
import export_model
from demo_assets import make_sentence
from errors import InputError
from tasks.table_reader import read_table

LABELS = {0: "negative, really", 1: "positive"}  # a comma inside a label: quoted in CSV


def synthetic_rows(n, seed):
    rng = random.Random(seed)
    return [make_sentence(rng) for _ in range(n)]


def write_csv(path, rows, header=("id", "review", "verdict"), delimiter=",", newline_in_text=True):
    """Quoted fields with commas and newlines, a UTF-8 byte order mark, Windows line endings."""
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
        w.writerow(header)
        for i, (text, label) in enumerate(rows):
            if newline_in_text:
                text = text.replace(" and ", ", and\n", 1)
            w.writerow([i, text, LABELS[label]])
    return str(path)


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def own_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    return (write_csv(folder / "reviews.csv", synthetic_rows(320, 1)), write_csv(folder / "dev.csv", synthetic_rows(96, 2)),
            write_csv(folder / "test.csv", synthetic_rows(20, 3)))


def own_args(train, dev, model, out, *extra):
    return ["--train_file", train, "--dev_file", dev, "--text_columns", "review", "--label_column", "verdict",
            "--model_name_or_path", model, "--output_dir", out, "--batch_size", "16", "--max_seq_length", "32",
            "--learning_rate", "2e-3", "--logging_steps", "5", "--save_steps", "10", "--device", "cpu", *extra]


def test_csv_reader_keeps_quoted_commas_newlines_and_line_numbers(tmp_path):
    path = write_csv(tmp_path / "a.csv", [("the film was good and funny", 1), ("bad", 0)])
    columns, rows = read_table(path, "--train_file")
    assert columns == ["id", "review", "verdict"]
    assert rows[0] == (2, {"id": "0", "review": "the film was good, and\nfunny", "verdict": "positive"})
    assert rows[1][0] == 4 and rows[1][1]["verdict"] == "negative, really"  # the quoted newline took line 3


def test_tsv_takes_quotes_literally_and_jsonl_reads_the_same_rows(tmp_path):
    """TSV as GLUE and ChnSentiCorp write it: one row per line, a quote is part of the text."""
    texts = ['"great" movie, and funny', 'bad "', "fine"]
    tsv = tmp_path / "a.tsv"
    tsv.write_text("id\treview\tverdict\n" + "".join(f"{i}\t{t}\tpositive\n" for i, t in enumerate(texts))
                   + "   \n", encoding="utf-8")  # a line of spaces is a blank line
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "review": t, "verdict": "positive"} for i, t in enumerate(texts)])
    rows = [r for _, r in read_table(str(tsv), "--train_file")[1]]
    assert [r["review"] for r in rows] == texts
    assert rows == [r for _, r in read_table(jsonl, "--train_file")[1]]


def test_reader_refuses_a_doubled_column_and_a_stray_csv_quote(tmp_path, capsys):
    doubled = tmp_path / "d.csv"
    doubled.write_text("text,text,label\na,b,c\n", encoding="utf-8")
    with pytest.raises(InputError, match="d.csv:1: the column 'text' is named twice"):
        read_table(str(doubled), "--train_file")
    stray = tmp_path / "s.csv"
    stray.write_text('text,label\n"good" movie,pos\n', encoding="utf-8")
    with pytest.raises(InputError, match="s.csv:2: "):
        read_table(str(stray), "--train_file")


def test_string_label_pipeline_train_distil_export_predict(own_csv, tiny_bert, tmp_path, capsys):
    train, dev, test = own_csv
    teacher = str(tmp_path / "teacher")
    results = run_patient_kd.main(own_args(train, dev, tiny_bert, teacher, "--num_layers_of_student_model", "4",
                                           "--max_steps", "120", "--eval_steps", "40"))
    assert results["task"] == "reviews" and results["best_metric_name"] == "acc"
    assert set(results["metrics"]) >= {"acc", "macro_f1", "mcc"} and results["best_metric"] > 0.6  # chance: about 0.5
    info = json.load(open(os.path.join(teacher, "best_model", "task.json")))
    assert info["labels"] == sorted(LABELS.values()) and info["text_columns"] == ["review"]
    config = json.load(open(os.path.join(teacher, "best_model", "config.json")))
    assert config["id2label"] == {"0": "negative, really", "1": "positive"}

    student = str(tmp_path / "pkd")
    run_patient_kd.main(own_args(train, dev, tiny_bert, student, "--teacher_finetuned_model_path",
                                 os.path.join(teacher, "best_model"), "--num_layers_of_student_model", "2",
                                 "--alpha", "0.5", "--beta", "10", "--max_steps", "30", "--metric_for_best", "macro_f1"))
    assert json.load(open(os.path.join(student, "results.json")))["best_metric_name"] == "macro_f1"
    exported = str(tmp_path / "exported")
    export_model.main(["--model_dir", os.path.join(student, "best_model"), "--output_dir", exported])
    assert json.load(open(os.path.join(exported, "export.json")))["task"]["label_column"] == "verdict"
    out = str(tmp_path / "pred.tsv")
    predict.main(["--model_dir", exported, "--input", test, "--output", out])  # no task flags
    lines = open(out, encoding="utf-8").read().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 21
    assert {line.split("\t", 1)[1] for line in lines[1:]} <= set(LABELS.values())
    assert "'macro_f1'" in capsys.readouterr().err  # test.csv has labels: the metrics are printed


def test_labels_flag_fixes_the_class_order(tmp_path, tiny_bert, capsys):
    rows = [(t, y) for t, y in synthetic_rows(40, 6)]
    for name in ("train", "dev"):
        write_jsonl(tmp_path / f"{name}.jsonl", [{"text": t, "label": ["neg", "pos"][y]} for t, y in rows])
    base = ["--train_file", str(tmp_path / "train.jsonl"), "--dev_file", str(tmp_path / "dev.jsonl"),
            "--model_name_or_path", tiny_bert, "--max_steps", "1", "--device", "cpu",
            "--num_layers_of_student_model", "2", "--max_seq_length", "32"]
    run_patient_kd.main(base + ["--output_dir", str(tmp_path / "sorted")])
    run_patient_kd.main(base + ["--output_dir", str(tmp_path / "given"), "--labels", "pos,neg"])
    assert json.load(open(tmp_path / "sorted" / "best_model" / "task.json"))["labels"] == ["neg", "pos"]
    assert json.load(open(tmp_path / "given" / "best_model" / "task.json"))["labels"] == ["pos", "neg"]
    err = bad_run(capsys, base + ["--output_dir", str(tmp_path / "bad"), "--labels", "pos,neutral"])
    assert "label 'neg' is not one of --labels pos,neutral" in err


def test_builtin_layout_and_own_files_give_the_same_run(sst2_dir, tiny_bert, tmp_path):
    """SST-2's official files, and the same rows as a CSV with renamed columns: the same metrics at every evaluation."""
    rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(sst2_dir, "train.tsv"), encoding="utf-8")][1:]
    dev = [line.rstrip("\n").split("\t") for line in open(os.path.join(sst2_dir, "dev.tsv"), encoding="utf-8")][1:]
    for name, data in (("train", rows), ("dev", dev)):
        with open(tmp_path / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["phrase", "polarity"])
            w.writerows(data)
    flags = ["--model_name_or_path", tiny_bert, "--batch_size", "16", "--max_seq_length", "32", "--learning_rate",
             "2e-3", "--save_steps", "10", "--device", "cpu", "--num_layers_of_student_model", "2", "--max_steps", "30"]
    builtin = run_patient_kd.main(["--task_name", "SST-2", "--data_dir", sst2_dir, "--output_dir",
                                   str(tmp_path / "builtin"), *flags])
    own = run_patient_kd.main(["--train_file", str(tmp_path / "train.csv"), "--dev_file", str(tmp_path / "dev.csv"),
                               "--text_columns", "phrase", "--label_column", "polarity", "--output_dir",
                               str(tmp_path / "own"), *flags])
    assert [h["acc"] for h in builtin["history"]] == [h["acc"] for h in own["history"]]
    assert [round(h["loss"], 6) for h in builtin["history"]] == [round(h["loss"], 6) for h in own["history"]]


def test_regression_from_jsonl_clips_to_the_train_range(tmp_path, tiny_bert):
    rng = random.Random(0)
    records = [{"text": t, "score": 2.0 + 3.0 * y + rng.random()} for t, y in synthetic_rows(200, 4)]
    train = write_jsonl(tmp_path / "train.jsonl", records[:160])
    dev = write_jsonl(tmp_path / "dev.jsonl", records[160:])
    out = str(tmp_path / "run")
    results = run_patient_kd.main(["--train_file", train, "--dev_file", dev, "--label_column", "score",
                                   "--task_type", "regression", "--model_name_or_path", tiny_bert, "--output_dir",
                                   out, "--batch_size", "16", "--max_seq_length", "32", "--learning_rate", "2e-3",
                                   "--save_steps", "10", "--device", "cpu", "--num_layers_of_student_model", "2",
                                   "--max_steps", "20"])
    assert results["best_metric_name"] == "pearson_and_spearman"
    info = json.load(open(os.path.join(out, "best_model", "task.json")))
    low, high = min(r["score"] for r in records[:160]), max(r["score"] for r in records[:160])
    assert info["task_type"] == "regression" and info["range"] == [low, high]
    exported = str(tmp_path / "exported")
    export_model.main(["--model_dir", os.path.join(out, "best_model"), "--output_dir", exported])
    pred = str(tmp_path / "pred.tsv")
    predict.main(["--model_dir", exported, "--input", dev, "--output", pred])
    scores = [float(line.split("\t")[1]) for line in open(pred).read().splitlines()[1:]]
    assert len(scores) == 40 and all(low - 5e-4 <= s <= high + 5e-4 for s in scores)  # written with 3 decimals


def test_pairs_are_found_by_their_usual_names(tmp_path, tiny_bert):
    rows = synthetic_rows(60, 5)
    for name in ("train", "dev"):
        write_jsonl(tmp_path / f"{name}.jsonl", [{"sentence1": a, "sentence2": b, "label": str(y)}
                                                 for (a, y), (b, _) in zip(rows, rows[1:])])
    results = run_patient_kd.main(["--train_file", str(tmp_path / "train.jsonl"), "--dev_file",
                                   str(tmp_path / "dev.jsonl"), "--model_name_or_path", tiny_bert, "--output_dir",
                                   str(tmp_path / "run"), "--max_steps", "2", "--device", "cpu",
                                   "--num_layers_of_student_model", "2", "--max_seq_length", "32"])
    assert results["finished"]
    info = json.load(open(tmp_path / "run" / "best_model" / "task.json"))
    assert info["text_columns"] == ["sentence1", "sentence2"]


def bad_run(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_patient_kd.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("train_text,extra,message", [
    ("id,review,verdict\n1,good,positive\n2,bad,negative\n", ["--text_columns", "body"],
     "--text_columns: no column 'body' in {train} (columns: id, review, verdict)"),
    ("id,review,verdict\n1,good,positive\n2,bad,negative\n", ["--label_column", "stars"],
     "--label_column stars: no such column in {train} (columns: id, review, verdict)"),
    ("id,review,verdict\n1,good,positive\n2,  ,negative\n", [], "{train}:3: empty text"),
    ("id,review,verdict\n1,good,positive\n2,bad\n", [], "{train}:3: expected 3 fields (the header's), found 2"),
    ("id,review,verdict\n1,good,positive\n2,bad,positive\n", [], "every example has the label 'positive'"),
    ("id,review,verdict\n1,good,4.5\n2,bad,five\n", ["--task_type", "regression"],
     "{train}:3: label 'five' is not a number (--task_type regression)"),
    ("id,body,verdict\n1,good,positive\n2,bad,negative\n", ["--text_columns", ""],
     "no text column found (looked for text, sentence, text_a+text_b, sentence1+sentence2)"),
])
def test_bad_own_files(capsys, tmp_path, tiny_bert, train_text, extra, message):
    train = write_text(tmp_path / "train.csv", train_text)
    dev = write_text(tmp_path / "dev.csv", "id,review,verdict\n1,good,positive\n")
    out = tmp_path / "out"
    flags = ["--train_file", train, "--dev_file", dev, "--text_columns", "review", "--label_column", "verdict",
             "--model_name_or_path", tiny_bert, "--output_dir", str(out), "--device", "cpu"]
    err = bad_run(capsys, flags + extra)
    assert message.format(train=train) in err
    assert not out.exists()  # nothing left behind


def test_bad_own_file_flags(capsys, tmp_path, tiny_bert, sst2_dir):
    train = write_text(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    dev = write_text(tmp_path / "dev.csv", "text,label\ngood,pos\nfine,neutral\n")
    base = ["--model_name_or_path", tiny_bert, "--output_dir", str(tmp_path / "out"), "--device", "cpu"]
    assert "--train_file x.xlsx: unknown extension '.xlsx'" in bad_run(
        capsys, ["--train_file", "x.xlsx", "--dev_file", dev, *base])
    assert f"{dev}:3: label 'neutral' is not one of the train labels ['neg', 'pos']" in bad_run(
        capsys, ["--train_file", train, "--dev_file", dev, *base])
    assert "--data_dir is for the built-in tasks" in bad_run(
        capsys, ["--train_file", train, "--dev_file", dev, "--data_dir", sst2_dir, *base])
    assert "--train_file needs --dev_file" in bad_run(capsys, ["--train_file", train, *base])
    assert "give --task_name" in bad_run(capsys, base)
    assert "--text_columns is for your own files" in bad_run(
        capsys, ["--task_name", "SST-2", "--data_dir", sst2_dir, "--text_columns", "sentence", *base])
    assert "--label_column text is also a text column" in bad_run(
        capsys, ["--train_file", train, "--dev_file", train, "--label_column", "text", "--text_columns", "text", *base])
    constant = write_text(tmp_path / "c.csv", "text,label\ngood,1.5\nbad,1.5\n")
    assert "every example has the score 1.5" in bad_run(
        capsys, ["--train_file", constant, "--dev_file", constant, "--task_type", "regression", *base])
    assert "--metric_for_best f1: train computes acc, macro_f1, mcc" in bad_run(
        capsys, ["--train_file", train, "--dev_file", train, "--metric_for_best", "f1", *base])


def test_predict_refuses_a_file_without_the_text_columns(own_csv, tiny_bert, tmp_path, capsys):
    train, dev, _ = own_csv
    out = str(tmp_path / "run")
    run_patient_kd.main(own_args(train, dev, tiny_bert, out, "--num_layers_of_student_model", "2", "--max_steps", "2"))
    exported = str(tmp_path / "exported")
    export_model.main(["--model_dir", os.path.join(out, "best_model"), "--output_dir", exported])
    wrong = write_text(tmp_path / "new.csv", "id,text\n1,good\n")
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--model_dir", exported, "--input", wrong])
    assert exit_info.value.code == 2
    assert f"--input {wrong}: no text column 'review' (columns: id, text)" in capsys.readouterr().err


def test_pipeline_tables_and_plots_on_own_files(own_csv, tiny_bert, tmp_path):
    """scripts/run_pipeline.sh with own files (no TASK_NAME), then collect_results.py and plot_curves.py."""
    import subprocess
    import sys

    from conftest import ROOT

    train, dev, _ = own_csv
    out = tmp_path / "runs"
    env = dict(os.environ, MODEL=tiny_bert, OUT=str(out), TEACHER_LAYERS="4", STUDENT_LAYERS="2",
               TEACHER_STEPS="20", STUDENT_STEPS="10", VIRTUAL_ENV=sys.prefix,
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_pipeline.sh"), "--train_file", train,
                           "--dev_file", dev, "--text_columns", "review", "--label_column", "verdict",
                           "--save_steps", "10", "--max_seq_length", "32", "--device", "cpu"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "collect_results.py"), str(out)],
                           capture_output=True, text=True, check=True).stdout
    assert "| Model | reviews (dev acc) | n |" in table and "BERT2-PKD-last" in table
    png = tmp_path / "curves.png"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "plot_curves.py"), str(out / "ft"), str(out / "kd"),
                    "--out", str(png)], check=True, capture_output=True)
    assert png.stat().st_size > 1000


def test_test_file_is_predicted_and_a_teacher_of_other_classes_refused(own_csv, tiny_bert, tmp_path, capsys):
    train, dev, test = own_csv
    out = str(tmp_path / "run")
    run_patient_kd.main(own_args(train, dev, tiny_bert, out, "--num_layers_of_student_model", "2", "--max_steps", "4",
                                 "--test_file", test))
    lines = open(os.path.join(out, "test_predictions.tsv"), encoding="utf-8").read().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 21 and set(l.split("\t")[1] for l in lines[1:]) <= \
        set(LABELS.values())
    relabelled = write_csv(tmp_path / "swapped.csv", synthetic_rows(40, 9))
    info = json.load(open(os.path.join(out, "best_model", "task.json")))
    info["labels"] = info["labels"][::-1]
    json.dump(info, open(os.path.join(out, "best_model", "task.json"), "w"))
    err = bad_run(capsys, own_args(relabelled, dev, tiny_bert, str(tmp_path / "kd2"), "--teacher_finetuned_model_path",
                                   os.path.join(out, "best_model"), "--alpha", "0.5", "--num_layers_of_student_model", "2"))
    assert "the teacher's classes are ['positive', 'negative, really'], the task's ['negative, really', 'positive']" \
        in err


def test_int8_onnx_export_of_an_own_data_model_predicts_label_strings(own_csv, tiny_bert, tmp_path):
    from test_deploy import onnx_unavailable

    if onnx_unavailable() is not None:
        pytest.skip(onnx_unavailable())
    train, dev, test = own_csv
    out = str(tmp_path / "run")
    run_patient_kd.main(own_args(train, dev, tiny_bert, out, "--num_layers_of_student_model", "2", "--max_steps", "2"))
    exported = str(tmp_path / "int8")
    export_model.main(["--model_dir", os.path.join(out, "best_model"), "--output_dir", exported, "--precision", "int8"])
    info = json.load(open(os.path.join(exported, "export.json")))
    assert (info["format"], info["precision"], info["task"]["labels"]) == ("onnx", "int8", sorted(LABELS.values()))
    pred = str(tmp_path / "pred.tsv")
    predict.main(["--model_dir", exported, "--input", test, "--output", pred])
    assert {line.split("\t")[1] for line in open(pred, encoding="utf-8").read().splitlines()[1:]} <= set(LABELS.values())
