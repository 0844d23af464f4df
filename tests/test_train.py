"""End to end on a tiny model: every mode learns, best_model and results.json are right, bad input exits 2."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import run_patient_kd
from conftest import ROOT, common_args

MODES = {
    "ft": ["--alpha", "0", "--beta", "0"],
    "kd": ["--alpha", "0.7", "--T", "5", "--beta", "0"],
    "pkd_skip": ["--alpha", "0.7", "--T", "5", "--beta", "100", "--strategy", "skip"],
    "pkd_last": ["--alpha", "0.7", "--T", "5", "--beta", "100", "--strategy", "last"],
}


def train_student(sst2_dir, tiny_bert, teacher_dir, out, flags, steps=80):
    return run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(out), "--teacher_finetuned_model_path",
                                           teacher_dir, "--num_layers_of_student_model", "2",
                                           "--max_steps", str(steps), *flags))


@pytest.fixture(scope="module")
def runs(sst2_dir, tiny_bert, teacher_dir, tmp_path_factory):
    done = {}
    for mode, flags in MODES.items():
        out = tmp_path_factory.mktemp(mode)
        done[mode] = (train_student(sst2_dir, tiny_bert, teacher_dir, out, flags), out)
    return done


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_learns(runs, mode):
    losses = [e["loss"] for e in runs[mode][0]["train_log"]]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.01


def test_parts_logged_match_the_mode(runs):
    assert runs["ft"][0]["train_log"][0]["kd"] is None
    assert runs["kd"][0]["train_log"][0]["pt"] is None and runs["kd"][0]["train_log"][0]["kd"] > 0
    assert runs["pkd_skip"][0]["train_log"][0]["pt"] > 0


def test_results_json_content(runs):
    r = json.load(open(os.path.join(runs["pkd_skip"][1], "results.json")))
    for key in ("task", "mode", "strategy", "alpha", "T", "beta", "layer_pairs", "best_metric", "best_step",
                "metrics", "train_seconds"):
        assert key in r, key
    assert (r["task"], r["mode"], r["strategy"], r["alpha"], r["T"], r["beta"]) == ("sst-2", "pkd", "skip", 0.7, 5.0,
                                                                                    100.0)
    assert r["layer_pairs"] == [[1, 2]]  # 2 from 4, skip: k = 2
    assert runs["pkd_last"][0]["layer_pairs"] == [[1, 3]]
    assert runs["ft"][0]["mode"] == "ft" and runs["ft"][0]["layer_pairs"] == []
    assert runs["kd"][0]["mode"] == "kd"
    assert r["best_metric"] == r["metrics"]["acc"] == max(h["acc"] for h in r["history"])
    assert [h["step"] for h in r["history"]] == list(range(10, 81, 10))
    assert r["finished"] and r["train_seconds"] > 0


def test_best_model_reloads_and_reproduces_the_metric(runs, sst2_dir):
    from paddlenlp.transformers import BertForSequenceClassification, BertTokenizer

    import data
    from tasks import benchmarks
    from training import evaluation
    from tasks.metrics import task_metrics

    result, out = runs["kd"]
    best = os.path.join(out, "best_model")
    for f in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"):
        assert os.path.isfile(os.path.join(best, f)), f
    assert not any(f.endswith((".pdparams", ".pkl", ".bin")) for f in os.listdir(best))  # no pickle
    mode = [os.stat(os.path.join(best, f)).st_mode & 0o777 for f in ("model.safetensors", "config.json")]
    assert mode[0] == mode[1]  # readable by whoever can read the config (safetensors alone makes 0600)
    model = BertForSequenceClassification.from_pretrained(best)
    tok = BertTokenizer.from_pretrained(best)
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), sst2_dir)["dev"], task, tok, 32)
    logits, labels = evaluation.predict(model, data.eval_loader(dev, tok, 7))
    assert task_metrics("acc", logits, labels)["acc"] == pytest.approx(result["best_metric"], abs=1e-9)


def test_same_seed_same_result(sst2_dir, tiny_bert, teacher_dir, tmp_path, runs):
    again = train_student(sst2_dir, tiny_bert, teacher_dir, tmp_path, MODES["pkd_skip"])
    np.testing.assert_allclose([e["loss"] for e in again["train_log"]],
                               [e["loss"] for e in runs["pkd_skip"][0]["train_log"]], rtol=1e-5)


def run_cli_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_patient_kd.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("extra,message", [
    (["--alpha", "1.5"], "--alpha"),
    (["--T", "0"], "--T"),
    (["--beta", "-1"], "--beta"),
    (["--alpha", "0.5"], "needs --teacher_finetuned_model_path"),
    (["--beta", "10"], "needs --teacher_finetuned_model_path"),
    (["--strategy", "middle"], "--strategy"),
    (["--batch_size", "0"], "--batch_size"),
    (["--max_train_examples", "-5"], "--max_train_examples"),
    (["--max_train_examples", "100000"], "--max_train_examples 100000: train has only"),
])
def test_bad_flags(capsys, sst2_dir, tiny_bert, tmp_path, extra, message):
    assert message in run_cli_error(capsys, common_args(sst2_dir, tiny_bert, str(tmp_path), *extra))


def test_unknown_task(capsys, sst2_dir, tiny_bert, tmp_path):
    argv = common_args(sst2_dir, tiny_bert, str(tmp_path))
    argv[1] = "SST-5"
    assert "--task_name" in run_cli_error(capsys, argv)


def test_student_deeper_than_teacher(capsys, sst2_dir, tiny_bert, teacher_dir, tmp_path):
    err = run_cli_error(capsys, common_args(sst2_dir, tiny_bert, str(tmp_path), "--alpha", "0.5",
                                            "--teacher_finetuned_model_path", teacher_dir,
                                            "--num_layers_of_student_model", "6"))
    assert "--num_layers_of_student_model 6" in err


def test_teacher_path_without_a_model(capsys, sst2_dir, tiny_bert, tmp_path):
    (tmp_path / "teacher").mkdir()
    err = run_cli_error(capsys, common_args(sst2_dir, tiny_bert, str(tmp_path / "out"), "--alpha", "0.5",
                                            "--teacher_finetuned_model_path", str(tmp_path / "teacher")))
    assert "--teacher_finetuned_model_path" in err and "no config.json" in err


def test_missing_data_and_wrong_columns(capsys, tiny_bert, tmp_path):
    err = run_cli_error(capsys, common_args(str(tmp_path / "nodata"), tiny_bert, str(tmp_path / "o1"),
                                            "--num_layers_of_student_model", "2"))
    assert "--data_dir" in err
    qqp = tmp_path / "qqp"
    qqp.mkdir()
    for split in ("train", "dev"):
        (qqp / f"{split}.tsv").write_text("sentence\tlabel\nfine\t1\n")
    argv = common_args(str(qqp), tiny_bert, str(tmp_path / "o2"), "--num_layers_of_student_model", "2")
    argv[1] = "QQP"
    err = run_cli_error(capsys, argv)
    assert "train.tsv:2" in err and "expected 6" in err


def test_cli_error_from_a_real_process_has_no_traceback(sst2_dir, tiny_bert, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "run_patient_kd.py"),
                           *common_args(sst2_dir, tiny_bert, str(tmp_path), "--beta", "5")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")


def test_amp_is_refused_on_cpu(capsys, sst2_dir, tiny_bert, tmp_path):
    assert "--use_amp needs a GPU" in run_cli_error(capsys, common_args(sst2_dir, tiny_bert, str(tmp_path),
                                                                        "--use_amp"))


class RecordingScaler:
    """Stands in for paddle.amp.GradScaler, which is disabled on CPU: scales by 1024 and unscales in step()."""

    def __init__(self):
        self.calls = []

    def scale(self, loss):
        self.calls.append("scale")
        return loss * 1024.0

    def step(self, optimizer):
        self.calls.append("step")
        for p in optimizer._parameter_list:
            p.grad.set_value(p.grad / 1024.0)
        optimizer.step()

    def update(self):
        self.calls.append("update")


def test_loss_scaling_wiring_gives_the_unscaled_step():
    """backward() scales the loss and apply_gradients() lets the scaler unscale and step: same update as plain."""
    import paddle
    from paddlenlp.transformers import LinearDecayWithWarmup

    def one_step(scaler):
        paddle.seed(0)
        model = paddle.nn.Linear(4, 3)
        sched = LinearDecayWithWarmup(0.1, 10, 0.0)
        opt = paddle.optimizer.SGD(learning_rate=sched, parameters=model.parameters())  # scale-sensitive
        x = paddle.to_tensor(np.arange(8, dtype="float32").reshape(2, 4))
        run_patient_kd.backward((model(x) ** 2).mean(), scaler)
        run_patient_kd.apply_gradients(opt, sched, scaler)
        return model.weight.numpy(), sched.last_epoch

    scaler = RecordingScaler()
    (scaled, epoch_a), (plain, epoch_b) = one_step(scaler), one_step(None)
    assert scaler.calls == ["scale", "step", "update"] and epoch_a == epoch_b == 1
    np.testing.assert_allclose(scaled, plain, rtol=1e-5)


def test_visualdl_scalars_are_written(sst2_dir, tiny_bert, tmp_path):
    run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path / "out"), "--num_layers_of_student_model", "2",
                                    "--max_steps", "10", "--logdir", str(tmp_path / "vdl")))
    records = [f for f in os.listdir(tmp_path / "vdl") if "vdlrecords" in f]
    assert records and os.path.getsize(tmp_path / "vdl" / records[0]) > 0
