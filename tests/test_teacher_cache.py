"""Training from the teacher cache gives the losses of training with the live teacher."""
import os

import numpy as np

import run_patient_kd
from conftest import common_args


def pkd(sst2_dir, tiny_bert, teacher_dir, out, cache_dir, *extra):
    return run_patient_kd.main(common_args(
        sst2_dir, tiny_bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
        "--num_layers_of_student_model", "2", "--alpha", "0.6", "--T", "4", "--beta", "200",
        "--max_steps", "40", "--teacher_cache_dir", str(cache_dir), *extra))


def test_cached_and_live_teacher_give_the_same_losses(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    cached = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "cached", tmp_path / "cache")
    live = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "live", tmp_path / "cache", "--no_teacher_cache")
    assert cached["teacher_cache"] and live["teacher_cache"] is None
    for a, b in zip(cached["train_log"], live["train_log"]):
        for part in ("loss", "ce", "kd", "pt"):
            np.testing.assert_allclose(a[part], b[part], rtol=2e-3, err_msg=part)  # [CLS] states stored as fp16
    assert [h["acc"] for h in cached["history"]] == [h["acc"] for h in live["history"]]


def test_cache_is_reused_and_keyed_by_layers(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    cache = tmp_path / "cache"
    first = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "a", cache)
    again = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "b", cache, "--seed", "7")
    last = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "c", cache, "--strategy", "last")
    assert first["teacher_cache"] == again["teacher_cache"] != last["teacher_cache"]
    assert "reusing" in open(tmp_path / "b" / "train.log").read()
    teacher_folders = [name for name in os.listdir(cache) if os.path.isdir(cache / name) and name != "encoded"]
    assert len(teacher_folders) == 2
    shorter = pkd(sst2_dir, tiny_bert, teacher_dir, tmp_path / "d", cache, "--max_seq_length", "8")
    assert shorter["teacher_cache"] != first["teacher_cache"]
    folder = os.path.join(cache, first["teacher_cache"][:24])
    assert np.load(os.path.join(folder, "cls.npy"), allow_pickle=False).dtype == np.float16


def test_shards_merge_only_when_they_cover_every_example_once(tmp_path):
    from runtime import teacher_cache

    shards, out = tmp_path / "shards", tmp_path / "cache"
    shards.mkdir()
    out.mkdir()
    logits = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.savez(shards / "shard0.npz", idx=np.array([3, 0, 4]), logits=logits[[3, 0, 4]])
    assert teacher_cache.merge_shards(str(out), str(shards), 3, 5) is None  # shards 1 and 2 missing
    np.savez(shards / "shard1.npz", idx=np.array([1, 2]), logits=logits[[1, 2]])
    np.savez(shards / "shard2.npz", idx=np.zeros(0, np.int64))  # a process that got no batch
    assert teacher_cache.merge_shards(str(out), str(shards), 3, 6) is None  # one example never computed
    assert teacher_cache.merge_shards(str(out), str(shards), 3, 5) == {"num_examples": 5, "shards": 3}
    np.testing.assert_array_equal(np.load(out / "logits.npy"), logits)
    assert not shards.exists()
