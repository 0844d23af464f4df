"""Two data-parallel processes (paddle.distributed.launch, CPU/gloo) train exactly what one process trains."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import run_patient_kd
from conftest import ROOT, common_args
from demo_assets import write_tiny_bert


@pytest.fixture(scope="module")
def no_dropout_bert(tmp_path_factory):
    # Dropout masks are drawn per process, so only a dropout-free model can match exactly.
    return write_tiny_bert(str(tmp_path_factory.mktemp("bert_nodrop")), num_layers=2, hidden_size=32, heads=2,
                           dropout=0.0)


def kd_args(sst2_dir, bert, teacher_dir, out, batch_size, *extra):
    args = common_args(sst2_dir, bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
                       "--num_layers_of_student_model", "2", "--alpha", "0.5", "--T", "3", "--max_steps", "40",
                       "--save_steps", "20", "--logging_steps", "10", *extra)
    args[args.index("--batch_size") + 1] = str(batch_size)
    return args


def weights(out, step=40):
    with np.load(os.path.join(out, f"checkpoint-{step}", "model.npz")) as z:
        return {k: z[k] for k in z.files}


def assert_same_training(a_dir, a, b_dir, b):
    np.testing.assert_allclose([e["loss"] for e in a["train_log"]], [e["loss"] for e in b["train_log"]], rtol=1e-5)
    assert [h["acc"] for h in a["history"]] == [h["acc"] for h in b["history"]]
    wa, wb = weights(a_dir), weights(b_dir)
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], atol=1e-5, err_msg=k)


def worker_logs(log_dir):
    """The end of each worker's log: where a failed launch says why (its own output is the launcher's)."""
    names = sorted(n for n in os.listdir(log_dir) if os.path.isfile(os.path.join(log_dir, n))) \
        if os.path.isdir(log_dir) else []
    return "".join(f"\n--- {n}\n" + open(os.path.join(log_dir, n), errors="replace").read()[-3000:] for n in names)


def launch(tmp_path, args):
    """results.json of run_patient_kd.py with ARGS in two processes of paddle.distributed.launch (CPU, gloo)."""
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir",
           str(tmp_path / "log"), os.path.join(ROOT, "run_patient_kd.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:] + worker_logs(tmp_path / "log")
    return json.load(open(args[args.index("--output_dir") + 1] + "/results.json"))


def test_two_processes_match_one_process_with_the_same_global_batch(sst2_dir, no_dropout_bert, teacher_dir,
                                                                    tmp_path):
    one = run_patient_kd.main(kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "one", 16))
    two = launch(tmp_path, kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "two", 8))
    assert two["finished"]
    assert_same_training(tmp_path / "one", one, tmp_path / "two", two)
    log = open(tmp_path / "two" / "train.log").read()
    assert "2 process(es)" in log and log.count("eval step 40") == 1  # only rank 0 evaluates and logs


def test_gradient_accumulation_matches_one_big_batch(sst2_dir, no_dropout_bert, teacher_dir, tmp_path):
    big = run_patient_kd.main(kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "big", 16))
    accum = run_patient_kd.main(kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "accum", 8,
                                        "--gradient_accumulation_steps", "2"))
    assert accum["total_steps"] == big["total_steps"] == 40
    assert_same_training(tmp_path / "big", big, tmp_path / "accum", accum)


def test_two_processes_share_the_teacher_pass_and_build_the_cache_one_process_builds(
        sst2_dir, no_dropout_bert, teacher_dir, tmp_path):
    one_cache, two_cache = tmp_path / "cache1", tmp_path / "cache2"
    one = run_patient_kd.main(kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "one", 16,
                                      "--teacher_cache_dir", str(one_cache)))
    two = launch(tmp_path, kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "two", 8,
                                   "--teacher_cache_dir", str(two_cache)))
    assert two["teacher_cache"] == one["teacher_cache"]
    folder = one["teacher_cache"][:24]
    meta = json.load(open(two_cache / folder / "meta.json"))
    # rank 1 wrote shard1, rank 0 shard0 and merged both: the logits of one process, every row filled
    assert meta["shards"] == 2 and not os.listdir(two_cache / "shards")
    np.testing.assert_allclose(np.load(two_cache / folder / "logits.npy"), np.load(one_cache / folder / "logits.npy"),
                               atol=1e-5)
    assert "process 1 of 2 runs the teacher over its share" in open(tmp_path / "two" / "train.log").read()


def test_a_transfer_set_trains_the_same_in_two_processes(sst2_dir, no_dropout_bert, teacher_dir, tmp_path):
    # unlabelled rows in every batch, the teacher pass over train and transfer sharded, [CLS] states for PT
    def texts(split):
        with open(os.path.join(sst2_dir, f"{split}.tsv"), encoding="utf-8") as f:
            return [line.split("\t")[0] for line in f.read().splitlines()[1:]]

    transfer = tmp_path / "unlabelled.tsv"
    transfer.write_text("sentence\n" + "".join(f"{t} !\n" for t in texts("train") if f"{t} !" not in texts("dev")),
                        encoding="utf-8")
    extra = ("--transfer_file", str(transfer), "--beta", "10")
    one = run_patient_kd.main(kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "one", 16,
                                      "--teacher_cache_dir", str(tmp_path / "cache1"), *extra))
    two = launch(tmp_path, kd_args(sst2_dir, no_dropout_bert, teacher_dir, tmp_path / "two", 8,
                                   "--teacher_cache_dir", str(tmp_path / "cache2"), *extra))
    assert one["transfer_examples"] == two["transfer_examples"] > 0 and two["teacher_cache"] == one["teacher_cache"]
    assert not os.listdir(tmp_path / "cache2" / "shards")
    assert_same_training(tmp_path / "one", one, tmp_path / "two", two)


def test_a_narrow_student_and_its_projection_train_the_same_in_two_processes(sst2_dir, teacher_dir, tmp_path):
    narrow = write_tiny_bert(str(tmp_path / "narrow"), num_layers=2, hidden_size=16, heads=2, dropout=0.0)
    extra = ("--student_model_name_or_path", narrow, "--beta", "100")
    one = run_patient_kd.main(kd_args(sst2_dir, narrow, teacher_dir, tmp_path / "one", 16, *extra))
    two = launch(tmp_path, kd_args(sst2_dir, narrow, teacher_dir, tmp_path / "two", 8, *extra))
    assert any(k.startswith("maps.") or ".maps." in k for k in weights(tmp_path / "two"))  # the projection is saved
    assert_same_training(tmp_path / "one", one, tmp_path / "two", two)


def test_the_rendezvous_store_is_the_socket_one_where_paddle_has_both():
    import paddle

    from runtime import distributed

    if paddle.__version__.startswith("2."):
        pytest.skip("Paddle 2.6 has only the socket store")
    distributed.use_socket_store()  # swallows a ValueError: a renamed flag must fail here, not pass unnoticed
    assert paddle.get_flags(["FLAGS_tcp_store_using_libuv"]) == {"FLAGS_tcp_store_using_libuv": False}
