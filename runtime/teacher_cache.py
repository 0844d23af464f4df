"""The teacher's outputs, computed once over the training set and kept on disk.

A frozen teacher in eval mode gives the same outputs for an example at every epoch, so KD and
PKD need not run it at every step (the authors' code caches it too). The cache holds the
logits (float32) and the [CLS] vectors of only the matched layers (float16), as plain .npy
arrays read with memory mapping and without pickle. Its folder name is a hash of the teacher's
files, the tokenised training set (so the data, the tokenizer and max_seq_length) and the
layers: a change to any of them gives a new cache, and runs that share them share it, also
when they start together (disk_cache: one process builds, the others wait).
"""
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import paddle
from tqdm import tqdm

from model_folders import CONFIG_FILES
from runtime import checkpoint
from runtime import disk_cache


def cache_key(teacher_dir, encoded, layers):
    """sha256 over the teacher's config and weights, every example's token ids, and the layers."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(teacher_dir)):
        if name.endswith((".pdparams", ".safetensors")) or name in CONFIG_FILES:
            h.update(name.encode() + checkpoint.file_sha256(os.path.join(teacher_dir, name)).encode())
    h.update(json.dumps({"layers": list(layers), "n": len(encoded)}).encode())
    for example in encoded:
        h.update(np.asarray(example["input_ids"], dtype=np.int32).tobytes() + b"|")
        h.update(np.asarray(example["token_type_ids"], dtype=np.int8).tobytes() + b"/")
    return h.hexdigest()


class TeacherCache:
    """Callable like the live teacher: batch -> (logits [b, classes], [CLS] states [b, pairs, hidden] or None)."""

    def __init__(self, folder):
        self.folder = folder
        self.logits = np.load(os.path.join(folder, "logits.npy"), mmap_mode="r")
        cls_path = os.path.join(folder, "cls.npy")
        self.cls = np.load(cls_path, mmap_mode="r") if os.path.isfile(cls_path) else None

    def __call__(self, batch):
        idx = batch["idx"].numpy().reshape(-1)
        logits = paddle.to_tensor(np.asarray(self.logits[idx]))
        cls = None if self.cls is None else paddle.to_tensor(np.asarray(self.cls[idx], dtype=np.float32))
        return logits, cls


def shard_dir(cache_dir, key, size, batch_size):
    """Where the processes of one distributed run put their shares of the teacher pass before rank 0 merges them;
    the process count and batch size decide how the batches are shared out, so they name the folder too."""
    return os.path.join(cache_dir, "shards", f"{key[:24]}-{size}x{batch_size}")


def is_built(cache_dir, key, layers):
    return disk_cache.verify(os.path.join(cache_dir, key[:24]), required_files(layers)) is None


def required_files(layers):
    return ["logits.npy"] + (["cls.npy"] if layers else [])


def write_shard(folder, rank, size, forward, loader, log):
    """This process's share of the teacher pass (batches rank, rank + size, ...) as shard{rank}.npz in `folder`
    (an empty share when there are fewer batches than processes)."""
    idx, logits, cls = [np.zeros(0, np.int64)], [], []
    tic = time.time()
    for i, batch in enumerate(loader):
        if i % size != rank:
            continue
        batch_logits, batch_cls = forward(batch)
        idx.append(batch["idx"].numpy().reshape(-1))
        logits.append(batch_logits.numpy())
        if batch_cls is not None:
            cls.append(batch_cls.numpy().astype(np.float16))
        progress(i + 1, len(loader), time.time() - tic, log)
    os.makedirs(folder, exist_ok=True)
    arrays = {"idx": np.concatenate(idx)}
    if logits:
        arrays["logits"] = np.concatenate(logits)
    if cls:
        arrays["cls"] = np.concatenate(cls)
    tmp = os.path.join(folder, f".shard{rank}.{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, os.path.join(folder, f"shard{rank}.npz"))  # whole or absent


def merge_shards(folder, shards, size, num_examples):
    """Fill `folder` from the `size` shards a distributed teacher pass wrote (the fill function of load_or_build);
    None, writing nothing, unless every shard is there and together they cover every example exactly once (the
    processes of a run on several machines write their shards on their own machine's disk)."""
    paths = [os.path.join(shards, f"shard{rank}.npz") for rank in range(size)]
    if not all(os.path.isfile(p) for p in paths):
        return None
    parts = [np.load(p, allow_pickle=False) for p in paths]
    try:
        idx = np.concatenate([z["idx"] for z in parts])
        if len(idx) != num_examples or len(np.unique(idx)) != num_examples:
            return None
        full = [z for z in parts if "logits" in z.files]
        logits = np.lib.format.open_memmap(os.path.join(folder, "logits.npy"), "w+", np.float32,
                                           (num_examples, full[0]["logits"].shape[1]))
        cls = None
        if "cls" in full[0].files:
            cls = np.lib.format.open_memmap(os.path.join(folder, "cls.npy"), "w+", np.float16,
                                            (num_examples,) + full[0]["cls"].shape[1:])
        for z in full:
            logits[z["idx"]] = z["logits"]
            if cls is not None:
                cls[z["idx"]] = z["cls"]
        logits.flush()
        if cls is not None:
            cls.flush()
    finally:
        for z in parts:
            z.close()
    shutil.rmtree(shards, ignore_errors=True)  # merged: only the cache is kept
    return {"num_examples": num_examples, "shards": size}


def build(folder, forward, loader, num_examples, layers, log):
    """Run the teacher over the training set once (length-sorted batches) and write its arrays into `folder`.

    forward: batch -> (logits [b, classes], [CLS] states [b, pairs, hidden] or None), the teacher's outputs."""
    logits = cls = None
    tic = time.time()
    bar = tqdm(loader, desc="teacher", unit="batch", leave=False, disable=not sys.stderr.isatty())  # with its ETA
    for i, batch in enumerate(bar):
        batch_logits, batch_cls = forward(batch)
        idx = batch["idx"].numpy().reshape(-1)
        if logits is None:
            logits = np.lib.format.open_memmap(os.path.join(folder, "logits.npy"), "w+", np.float32,
                                               (num_examples, batch_logits.shape[1]))
            if batch_cls is not None:
                cls = np.lib.format.open_memmap(os.path.join(folder, "cls.npy"), "w+", np.float16,
                                                (num_examples,) + tuple(batch_cls.shape[1:]))
        logits[idx] = batch_logits.numpy()
        if cls is not None:
            cls[idx] = batch_cls.numpy().astype(np.float16)
        progress(i + 1, len(loader), time.time() - tic, log)
    logits.flush()
    if cls is not None:
        cls.flush()
    del logits, cls
    return {"layers": list(layers), "num_examples": num_examples, "seconds": round(time.time() - tic, 1)}


def progress(done, total, seconds, log, every=0.1):
    """A log line at each tenth of the batches with the rate and the time left (a log file under nohup has no
    progress bar; batches are length-sorted, longest first, so the estimate errs long)."""
    step = max(1, round(total * every))
    if done % step == 0 or done == total:
        left = seconds / done * (total - done)
        log(f"teacher cache: {done}/{total} batches ({done / total:.0%}), {seconds:.0f} s, "
            f"{done / max(seconds, 1e-9):.1f} batches/s, about {left:.0f} s left")


def load_or_build(cache_dir, key, forward, loader, num_examples, layers, log, fill=None):
    """The cache of `key` (cache_key: this teacher, data and layers): reused when present and intact, else built
    first by running `forward` over the `num_examples` examples of `loader`.

    Any number of processes may ask at once: one builds, the others wait for it (see disk_cache).
    forward: as for build(); log: a logging.Logger; fill(folder) -> meta or None: what fills a new cache instead
    of running `forward` over `loader` (merge_shards after a distributed pass); None from it: build as usual.
    """
    folder = os.path.join(cache_dir, key[:24])

    def build_into(tmp):
        log.info("teacher cache: computing the teacher's outputs over %d examples into %s", num_examples, folder)
        made = fill(tmp) if fill else None
        if made is None:  # no fill, or shards it cannot use: the whole pass here
            made = build(tmp, forward, loader, num_examples, layers, log.info)
        return {"key": key, "layers": list(layers), **made}

    disk_cache.obtain(folder, build_into, required_files(layers), log, "teacher cache")
    return TeacherCache(folder), key
