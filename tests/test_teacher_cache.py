"""Training from the teacher cache gives the losses of training with the live teacher."""
import json
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


def shard_from(shards, rank, size, logits, cls=None, batch=2):
    """Write shard `rank` of `size` as a distributed teacher pass over batches of `batch` examples would."""
    import paddle
    from runtime import teacher_cache

    n = len(logits)
    loader = [{"idx": paddle.to_tensor(np.arange(i, min(i + batch, n)).reshape(-1, 1))} for i in range(0, n, batch)]

    def forward(b):
        i = b["idx"].numpy().reshape(-1)
        return paddle.to_tensor(logits[i]), None if cls is None else paddle.to_tensor(cls[i])

    teacher_cache.write_shard(str(shards), rank, size, forward, loader, lambda message: None)


def test_shards_merge_only_when_they_cover_every_example_once(tmp_path):
    from runtime import teacher_cache

    shards, out = tmp_path / "shards", tmp_path / "cache"
    out.mkdir()
    logits = np.arange(10, dtype=np.float32).reshape(5, 2)
    cls = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    shard_from(shards, 0, 4, logits, cls)  # 3 batches of 2: rank 0 has examples 0 and 1, rank 3 none
    assert teacher_cache.merge_shards(str(out), str(shards), 4, 5) is None  # shards 1 to 3 missing
    for rank in (1, 2, 3):
        shard_from(shards, rank, 4, logits, cls)
    assert teacher_cache.merge_shards(str(out), str(shards), 4, 6) is None  # one example never computed
    assert sorted(os.listdir(shards)) == ["shard0", "shard1", "shard2", "shard3"]
    assert teacher_cache.merge_shards(str(out), str(shards), 4, 5) == {"num_examples": 5, "shards": 4}
    np.testing.assert_array_equal(np.load(out / "logits.npy"), logits)
    np.testing.assert_array_equal(np.load(out / "cls.npy"), cls.astype(np.float16))
    (shards / ".shard2.999999").mkdir()  # left by a killed earlier attempt of the same run
    for rank in range(4):
        assert shards.exists()
        teacher_cache.remove_shard(str(shards), rank)
    assert not shards.exists()


def test_a_damaged_or_foreign_shard_is_not_merged(tmp_path):
    from runtime import teacher_cache

    logits = np.arange(12, dtype=np.float32).reshape(6, 2)
    shards = tmp_path / "shards"
    for rank in range(2):
        shard_from(shards, rank, 2, logits)
    (tmp_path / "cache").mkdir()
    shard_from(shards, 1, 2, logits)  # a resumed run writes its shard again: replaced whole
    assert teacher_cache.merge_shards(str(tmp_path / "cache"), str(shards), 2, 6)
    with open(shards / "shard1" / "logits.bin", "r+b") as f:  # a crash after the rename, before the data hit disk
        f.truncate(8)
    assert teacher_cache.read_shard(str(shards / "shard1")) is None
    assert teacher_cache.merge_shards(str(tmp_path / "cache"), str(shards), 2, 6) is None
    shard_from(shards, 1, 2, logits)
    meta = json.loads((shards / "shard1" / "shard.json").read_text())
    meta["arrays"]["logits"]["dtype"] = "<f8"  # written by a version that kept other types
    (shards / "shard1" / "shard.json").write_text(json.dumps(meta))
    assert teacher_cache.read_shard(str(shards / "shard1")) is None
    shard_from(shards, 1, 2, logits)
    assert teacher_cache.merge_shards(str(tmp_path / "cache"), str(shards), 2, 5) is None  # example 5 out of range


def test_a_shard_is_streamed_to_disk_and_merged_in_slices(tmp_path, monkeypatch):
    from runtime import teacher_cache

    monkeypatch.setattr(teacher_cache, "MERGE_ROWS", 3)  # several slices per shard
    logits = np.random.default_rng(1).normal(size=(23, 3)).astype(np.float32)
    for rank in range(2):
        shard_from(tmp_path / "shards", rank, 2, logits, batch=4)
    assert os.path.getsize(tmp_path / "shards" / "shard0" / "logits.bin") == 12 * 3 * 4  # batches 0, 2, 4: 12 rows
    (tmp_path / "cache").mkdir()
    assert teacher_cache.merge_shards(str(tmp_path / "cache"), str(tmp_path / "shards"), 2, 23)
    np.testing.assert_array_equal(np.load(tmp_path / "cache" / "logits.npy"), logits)
    assert not (tmp_path / "cache" / "cls.npy").exists()


def test_two_runs_with_the_same_settings_write_their_shards_apart_and_a_resumed_run_finds_its_own(tmp_path):
    from runtime import teacher_cache

    def shards(output_dir):
        return teacher_cache.shard_dir("cache", "k" * 64, 2, 32, teacher_cache.run_token(str(output_dir)))

    assert shards(tmp_path / "grid" / "a") != shards(tmp_path / "grid" / "b")
    assert shards(tmp_path / "grid" / "a") == shards(tmp_path / "grid" / "a")


def test_the_time_left_counts_padded_tokens_not_batches(monkeypatch):
    """Length-sorted batches shrink as the pass goes: half the batches done can be most of the work."""
    from runtime import teacher_cache
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(teacher_cache.time, "time", lambda: float(next(clock)))
    lines = []
    progress = teacher_cache.Progress([700, 100, 100, 100], lines.append, every=0.5)  # 10 s per batch
    for _ in range(4):
        progress.advance()
    assert len(lines) == 2  # at 70% and at the end: one line per half of the work, not per two batches
    assert "1/4 batches (70% of the work)" in lines[0] and "about 4 s left" in lines[0]  # by batches: 30 s
    assert "4/4 batches (100% of the work)" in lines[1]
