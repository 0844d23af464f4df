"""Students of another shape: a separately pre-trained, narrower model of the teacher's family and vocabulary,
with PT through a learned projection per layer pair (BERT, and ERNIE 3.0 with task-type embeddings)."""
import json
import os
import shutil

import numpy as np
import paddle
import pytest

import kd_loss
import modeling
import run_patient_kd
from conftest import common_args
from demo_assets import FILLER, NEGATIVE, NEGATORS, POSITIVE, write_tiny_encoder
from deploy import inference
from test_kd_loss import np_pt
from test_reliability import refused


def test_pt_through_the_projection_matches_numpy():
    paddle.seed(0)
    rng = np.random.RandomState(1)
    student, teacher = rng.randn(5, 3, 8).astype("float32"), rng.randn(5, 3, 12).astype("float32")
    projection = modeling.ClsProjection(3, 8, 12)
    mapped = np.stack([student[:, j] @ m.weight.numpy() + m.bias.numpy() for j, m in enumerate(projection.maps)], 1)
    _, parts = kd_loss.pkd_loss(paddle.zeros([5, 2]), paddle.zeros([5, 2]), paddle.zeros([5], "int64"),
                                projection(paddle.to_tensor(student)), paddle.to_tensor(teacher), 0.5, 2.0, 1.0)
    assert parts["pt"].item() == pytest.approx(np_pt(mapped, teacher), rel=1e-5)
    assert len({id(m.weight) for m in projection.maps}) == 3  # one map per layer pair, none shared


def test_equal_widths_train_without_a_projection(tiny_bert, teacher_dir):
    teacher = modeling.load_teacher(teacher_dir, 2)
    student = modeling.build_student(modeling.student_config(teacher.config, 2, 2), modeling.base_model(teacher))
    assert modeling.trained_model(student, teacher, [2, 4]) == (student, None)


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """family -> a 2-layer pre-trained folder of width 16, the same vocabulary as the 32-wide tiny models."""
    root = tmp_path_factory.mktemp("narrow")
    return {fam: write_tiny_encoder(fam, str(root / fam), num_layers=2, hidden_size=16, heads=2, seed=5)
            for fam in ("bert", "ernie3")}


@pytest.fixture(scope="module")
def ernie3_teacher(sst2_dir, tmp_path_factory):
    base = write_tiny_encoder("ernie3", str(tmp_path_factory.mktemp("ernie3_base")), num_layers=4, hidden_size=32,
                              heads=2)
    out = tmp_path_factory.mktemp("ernie3_teacher")
    run_patient_kd.main(common_args(sst2_dir, base, str(out), "--num_layers_of_student_model", "4", "--max_steps", "30"))
    return base, str(out / "best_model")


def narrow_args(sst2_dir, model, teacher, student_model, out, *extra):
    return common_args(sst2_dir, model, str(out), "--teacher_finetuned_model_path", teacher,
                       "--student_model_name_or_path", student_model, "--alpha", "0.5", "--beta", "100",
                       "--max_steps", "40", "--save_steps", "20", "--eval_steps", "20", *extra)


def test_a_narrow_bert_student_distils_resumes_and_exports(sst2_dir, tiny_bert, teacher_dir, narrow, tmp_path):
    out = tmp_path / "narrow"
    argv = narrow_args(sst2_dir, tiny_bert, teacher_dir, narrow["bert"], out)
    result = run_patient_kd.main(argv)
    assert result["finished"] and result["num_student_layers"] == 2 and result["layer_pairs"] == [[1, 2]]
    assert "projected to the teacher's (32)" in open(out / "train.log").read()
    assert all(w["pt"] > 0 for w in result["train_log"])
    with np.load(out / "checkpoint-40" / "model.npz") as z:
        assert "projection.maps.0.weight" in z.files and z["projection.maps.0.weight"].shape == (16, 32)
        final = {k: z[k] for k in z.files}
    best = json.load(open(out / "best_model" / "config.json"))
    assert best["hidden_size"] == 16 and best["num_hidden_layers"] == 2
    best_model = modeling.load_classifier(str(out / "best_model"), "--model_dir")
    assert not any("projection" in k for k in best_model.state_dict())  # not part of the student
    # resume: the last checkpoint and the record lost, as after a crash just before the end
    shutil.rmtree(out / "checkpoint-40")
    resumed = run_patient_kd.main(argv)
    assert [h["acc"] for h in resumed["history"]] == [h["acc"] for h in result["history"]]
    with np.load(out / "checkpoint-40" / "model.npz") as z:
        for k in final:
            np.testing.assert_allclose(z[k], final[k], atol=1e-6, err_msg=k)
    ids = np.array([[1, 5, 6, 2]], dtype="int64")
    best_model.eval()
    eager = best_model(paddle.to_tensor(ids)).numpy()
    exported = inference.export(best_model, str(tmp_path / "exported"))
    np.testing.assert_allclose(inference.create_predictor(exported)(ids, np.zeros_like(ids)), eager, atol=1e-5)


def test_a_narrow_ernie3_student_with_task_type_embeddings(sst2_dir, ernie3_teacher, narrow, tmp_path):
    base, teacher = ernie3_teacher
    out = tmp_path / "ernie3"
    result = run_patient_kd.main(narrow_args(sst2_dir, base, teacher, narrow["ernie3"], out))
    assert result["finished"]
    config = json.load(open(out / "best_model" / "config.json"))
    assert config["hidden_size"] == 16 and config["use_task_id"] and config["model_type"] == "ernie"


def test_another_vocabulary_or_family_is_refused(sst2_dir, tiny_bert, teacher_dir, narrow, tmp_path, capsys):
    words = sorted(set(POSITIVE + NEGATIVE + NEGATORS + FILLER))
    swapped = words[1:2] + words[:1] + words[2:]  # the same tokens, two of them in each other's place
    other = write_tiny_encoder("bert", str(tmp_path / "other"), num_layers=2, hidden_size=16, heads=2, words=swapped)
    out = tmp_path / "out"
    err = refused(narrow_args(sst2_dir, tiny_bert, teacher_dir, other, out), capsys)
    assert "its vocabulary differs from the teacher's at id" in err and f"({words[1]!r} where the teacher has {words[0]!r})" in err
    err = refused(narrow_args(sst2_dir, tiny_bert, teacher_dir, narrow["ernie3"], out), capsys)
    assert "--student_model_name_or_path" in err and "is model type 'ernie' but --teacher_finetuned_model_path" in err
    assert not os.path.exists(out)


def test_random_student_keeps_the_vocabulary_and_takes_the_shape(tiny_bert, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "random"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "random_student.py"), tiny_bert, str(out),
                    "--layers", "3", "--hidden", "24", "--heads", "2"], check=True, capture_output=True)
    config = json.load(open(out / "config.json"))
    assert (config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]) == (3, 24, 96)
    assert open(out / "vocab.txt").read() == open(os.path.join(tiny_bert, "vocab.txt")).read()
    assert modeling.depth(modeling.load_pretrained(str(out))) == 3
