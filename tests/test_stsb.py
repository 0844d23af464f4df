"""STS-B: regression losses against numpy, its files, Pearson/Spearman selection, and the whole pipeline."""
import json
import os

import numpy as np
import paddle
import pytest

import data
from tasks import benchmarks
import export_model
import kd_loss
import predict
import run_patient_kd
from errors import InputError
from conftest import common_args
from demo_assets import write_stsb_layout


@pytest.fixture(scope="module")
def stsb_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "STS-B")
    write_stsb_layout(path, num_train=320, num_dev=96, num_test=20, seed=3)
    return path


def stsb_args(data_dir, model_dir, out, *extra):
    argv = common_args(data_dir, model_dir, str(out), *extra)
    argv[argv.index("SST-2")] = "STS-B"
    return argv


@pytest.fixture(scope="module")
def stsb_teacher(stsb_dir, tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("stsb_teacher")
    result = run_patient_kd.main(stsb_args(stsb_dir, tiny_bert, out, "--num_layers_of_student_model", "4",
                                           "--max_steps", "150"))
    return result, str(out)


def test_regression_losses_match_numpy():
    rng = np.random.RandomState(0)
    s, t, y = rng.randn(6, 1).astype("float32"), rng.randn(6, 1).astype("float32"), rng.rand(6) * 5
    got = kd_loss.mse_loss(paddle.to_tensor(s), paddle.to_tensor(y)).item()
    np.testing.assert_allclose(got, np.mean((s[:, 0] - y) ** 2), rtol=1e-5)
    got = kd_loss.mse_kd_loss(paddle.to_tensor(s), paddle.to_tensor(t), T=10.0).item()
    np.testing.assert_allclose(got, np.mean((s - t) ** 2), rtol=1e-5)
    total, parts = kd_loss.pkd_loss(paddle.to_tensor(s), paddle.to_tensor(t), paddle.to_tensor(y), None, None,
                                    0.25, 10.0, 0.0, kd_loss.mse_loss, kd_loss.mse_kd_loss)
    np.testing.assert_allclose(total.item(), 0.75 * np.mean((s[:, 0] - y) ** 2) + 0.25 * np.mean((s - t) ** 2),
                               rtol=1e-5)


def test_stsb_files_parse_with_float_scores(stsb_dir):
    task = benchmarks.get_task("STS-B")
    raw = benchmarks.load_splits(task, ("train", "dev"), stsb_dir)
    assert len(raw["train"]) == 320 and len(raw["dev"]) == 96
    encoded = data.encode(task, _tokenizer(stsb_dir), 32)(raw["dev"][0], 0)
    assert isinstance(encoded["labels"], float) and 0.0 <= encoded["labels"] <= 5.0
    assert encoded["token_type_ids"].count(1) > 0  # a pair
    assert len(benchmarks.load_file(task, "test", os.path.join(stsb_dir, "test.tsv"))) == 20


def _tokenizer(stsb_dir):
    import modeling

    return modeling.load_tokenizer(os.environ["PKD_TEST_TINY_BERT"], "x")


@pytest.fixture(autouse=True)
def _tiny_bert_path(tiny_bert, monkeypatch):
    monkeypatch.setenv("PKD_TEST_TINY_BERT", tiny_bert)


@pytest.mark.parametrize("bad, why", [("five", "score 'five' is not a number in [0, 5]"),
                                      ("5.5", "score '5.5' is not a number in [0, 5]")])
def test_a_bad_score_is_reported_with_its_line(stsb_dir, tmp_path, bad, why):
    lines = open(os.path.join(stsb_dir, "dev.tsv"), encoding="utf-8").read().splitlines()
    cols = lines[4].split("\t")
    lines[4] = "\t".join(cols[:-1] + [bad])
    path = tmp_path / "dev.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        benchmarks.check_split_file(benchmarks.get_task("sts-b"), "dev", str(path))
    assert str(e.value) == f"{path}:5: {why}"


def test_teacher_is_chosen_by_the_mean_of_pearson_and_spearman(stsb_teacher):
    result, _ = stsb_teacher
    assert result["best_metric_name"] == "pearson_and_spearman"
    means = [h["pearson_and_spearman"] for h in result["history"]]
    assert result["best_metric"] == max(means)
    for h in result["history"]:
        assert h["pearson_and_spearman"] == pytest.approx((h["pearson"] + h["spearman"]) / 2)
    assert result["best_metric"] > 0.5  # the synthetic score is learnable: the teacher did learn it


def test_stsb_kd_pkd_export_and_predict(stsb_dir, tiny_bert, stsb_teacher, tmp_path, capsys):
    _, teacher_out = stsb_teacher
    teacher = os.path.join(teacher_out, "best_model")
    kd = run_patient_kd.main(stsb_args(stsb_dir, tiny_bert, tmp_path / "kd", "--teacher_finetuned_model_path",
                                       teacher, "--num_layers_of_student_model", "2", "--max_steps", "60",
                                       "--alpha", "0.5", "--T", "5"))
    pkd = run_patient_kd.main(stsb_args(stsb_dir, tiny_bert, tmp_path / "pkd", "--teacher_finetuned_model_path",
                                        teacher, "--num_layers_of_student_model", "2", "--max_steps", "60",
                                        "--alpha", "0.5", "--beta", "10"))
    for r in (kd, pkd):
        assert r["finished"] and r["teacher_metrics"]["pearson"] > 0.5
        assert {"pearson", "spearman", "pearson_and_spearman", "loss"} <= set(r["metrics"])
    assert "--T 5 is not used: sts-b is a regression task" in open(tmp_path / "kd" / "train.log").read()
    assert pkd["teacher_cache"] and np.isfinite([w["pt"] for w in pkd["train_log"]]).all()
    exported = str(tmp_path / "exported")
    export_model.main(["--model_dir", os.path.join(tmp_path, "pkd", "best_model"), "--output_dir", exported])
    out = tmp_path / "STS-B.tsv"
    predict.main(["--model_dir", exported, "--task_name", "STS-B", "--input", os.path.join(stsb_dir, "test.tsv"),
                  "--output", str(out)])
    rows = out.read_text().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 21
    assert all(0.0 <= float(r.split("\t")[1]) <= 5.0 for r in rows[1:])
    predict.main(["--model_dir", exported, "--task_name", "sts-b", "--input", os.path.join(stsb_dir, "dev.tsv"),
                  "--split", "dev", "--output", str(tmp_path / "dev.tsv")])
    printed = capsys.readouterr().err
    dev_metrics = eval(printed[printed.index("dev: ") + 5:].strip().splitlines()[0])
    # Same model, other engine: Spearman's ranks may swap near-ties (legacy stack: 3e-4 apart); truncated
    # scores (what PaddleNLP's collator would do to them) move it by far more.
    assert dev_metrics["pearson_and_spearman"] == pytest.approx(pkd["best_metric"], abs=2e-3)
    json.dumps(pkd)  # results.json stays plain JSON


def test_the_collator_keeps_scores_as_floats(tiny_bert):
    import modeling

    collate = data.collator(modeling.load_tokenizer(tiny_bert, "x"))
    batch = collate([{"input_ids": [2, 7, 3], "token_type_ids": [0, 0, 0], "labels": 3.8, "idx": 0},
                     {"input_ids": [2, 3], "token_type_ids": [0, 0], "labels": 0.25, "idx": 1}])
    assert batch["labels"].tolist() == [3.8, 0.25] and batch["input_ids"].shape == (2, 3)


def test_a_regression_student_learns_from_unlabelled_pairs(stsb_dir, tiny_bert, stsb_teacher, tmp_path):
    # GLUE's test.tsv as the transfer set: both sentence columns, no score. Its pairs are the test texts beside
    # --data_dir, so only an explicit --eval_overlap keep lets them in (transductive distillation, the user's call).
    _, teacher_out = stsb_teacher
    result = run_patient_kd.main(stsb_args(
        stsb_dir, tiny_bert, tmp_path / "kd", "--teacher_finetuned_model_path", os.path.join(teacher_out, "best_model"),
        "--num_layers_of_student_model", "2", "--max_steps", "30", "--alpha", "0.5", "--beta", "10",
        "--transfer_file", os.path.join(stsb_dir, "test.tsv"), "--eval_overlap", "keep"))
    assert result["finished"] and result["transfer_examples"] == 20 and result["transfer_eval_overlap"] == 20
    assert np.isfinite([[w["kd"], w["pt"], w["ce"]] for w in result["train_log"]]).all()
    assert "transfer 20" in open(tmp_path / "kd" / "train.log").read()
