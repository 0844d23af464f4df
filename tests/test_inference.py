"""Exported model and paddle.inference predictor agree with the eager model; predict.py writes GLUE files."""
import os
import subprocess
import sys

import numpy as np
import pytest

import data
from tasks import benchmarks
from training import evaluation
import export_model
from deploy import inference
import modeling
import predict
import run_patient_kd
from conftest import ROOT


@pytest.fixture(scope="module")
def exported(teacher_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exported"))
    export_model.main(["--model_dir", teacher_dir, "--output_dir", out])
    return out


def test_exported_predictor_matches_eager_model(exported, teacher_dir, sst2_dir):
    tok = modeling.load_tokenizer(teacher_dir, "x")
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), sst2_dir)["dev"], task, tok, 32)
    eager, _ = evaluation.predict(modeling.load_classifier(teacher_dir, "x"), data.eval_loader(dev, tok, 16))
    static = inference.predict_logits(inference.create_predictor(exported), dev, data.collator(tok), 16)
    np.testing.assert_allclose(static, eager, atol=1e-4)
    assert (static.argmax(-1) == eager.argmax(-1)).all()


def test_predict_writes_a_glue_submission_file(exported, sst2_dir, tmp_path, capsys):
    out = tmp_path / "SST-2.tsv"
    predict.main(["--model_dir", exported, "--task_name", "SST-2", "--input", os.path.join(sst2_dir, "test.tsv"),
                  "--output", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 1 + 20
    assert {line.split("\t")[1] for line in lines[1:]} <= {"0", "1"}
    predict.main(["--model_dir", exported, "--task_name", "SST-2", "--input", os.path.join(sst2_dir, "dev.tsv"),
                  "--split", "dev", "--output", str(tmp_path / "dev.tsv")])
    assert "dev: {'acc':" in capsys.readouterr().err


def test_predict_reads_stdin_and_rejects_bad_input(exported, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "predict.py"), "--model_dir", exported, "--task_name", "sst-2"]
    ok = subprocess.run(cmd, input="a very good film\nnot good at all\n", capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == "index\tprediction" and len(ok.stdout.splitlines()) == 3
    bad = subprocess.run(cmd[:-4] + ["--model_dir", str(tmp_path), "--task_name", "sst-2"], input="x\n",
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: --model_dir")
