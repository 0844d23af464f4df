"""Early stopping (with resume), the teacher sanity check, and teacher rows in the results table."""
import json
import os

import paddle
import pytest

import collect_results
import modeling
import run_patient_kd
from conftest import classifier_of, common_args


def test_early_stopping_stops_and_stays_stopped_on_resume(sst2_dir, tiny_bert, tmp_path):
    # A learning rate too small to change any prediction: the first evaluation stays the best.
    argv = common_args(sst2_dir, tiny_bert, str(tmp_path), "--num_layers_of_student_model", "2",
                       "--learning_rate", "1e-12", "--max_steps", "100", "--save_steps", "5",
                       "--early_stopping_patience", "2")
    result = run_patient_kd.main(argv)
    assert result["stopped_early_at"] == 15 and result["finished"]
    assert [h["step"] for h in result["history"]] == [5, 10, 15] and result["best_step"] == 5
    assert os.path.isdir(tmp_path / "checkpoint-15")
    log = open(tmp_path / "train.log").read()
    assert "early stopping at step 15: 2 evaluations without a better acc" in log
    again = run_patient_kd.main(argv)  # resumes from checkpoint-15: already stopped, trains nothing
    assert again["stopped_early_at"] == 15 and [h["step"] for h in again["history"]] == [5, 10, 15]


def test_patience_counts_evaluations_without_a_new_best(sst2_dir, tiny_bert, tmp_path):
    result = run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path), "--num_layers_of_student_model",
                                             "2", "--max_steps", "40", "--early_stopping_patience", "10"))
    assert result["stopped_early_at"] is None and result["history"][-1]["step"] == 40


@pytest.fixture(scope="module")
def untrained_teacher(tiny_bert, tmp_path_factory):
    """A teacher whose classifier outputs the same logits for every sentence: it learned nothing."""
    model = classifier_of(tiny_bert)
    for p in model.classifier.parameters():
        p.set_value(paddle.zeros_like(p))
    out = str(tmp_path_factory.mktemp("untrained"))
    model.save_pretrained(out)
    modeling.load_tokenizer(tiny_bert, "x").save_pretrained(out)
    return out


def test_an_untrained_teacher_is_warned_about(sst2_dir, tiny_bert, untrained_teacher, tmp_path):
    result = run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path), "--teacher_finetuned_model_path",
                                             untrained_teacher, "--num_layers_of_student_model", "2",
                                             "--alpha", "0.5", "--max_steps", "2"))
    log = open(tmp_path / "train.log").read()
    assert "warning: the teacher does not look fine-tuned on sst-2" in log and "scripts/finetune_teacher.sh" in log
    assert result["teacher_metrics"]["acc"] <= 0.6


def test_a_fine_tuned_teacher_passes_and_is_recorded(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    result = run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path / "kd"), "--teacher_finetuned_model_path",
                                             teacher_dir, "--num_layers_of_student_model", "2",
                                             "--alpha", "0.5", "--max_steps", "2"))
    assert "does not look fine-tuned" not in open(tmp_path / "kd" / "train.log").read()
    teacher_run = json.load(open(os.path.join(os.path.dirname(teacher_dir), "results.json")))
    assert result["teacher_metrics"]["acc"] == pytest.approx(teacher_run["best_metric"], abs=1e-9)
    assert result["teacher_layers"] == 4 and result["teacher"] == teacher_dir
    rows = collect_results.collect(collect_results.find_results([str(tmp_path)]))
    table = collect_results.table(rows)
    assert f"| BERT4 (teacher) | {teacher_run['best_metric']:.4f} | 1 |" in table
