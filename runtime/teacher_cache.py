"""The teacher's outputs, computed once over the training set and kept on disk.

A frozen teacher in eval mode gives the same outputs for an example at every epoch, so KD and
PKD need not run it at every step (the authors' code caches it too). The cache holds the
logits (float32) and the [CLS] vectors of only the matched layers (float16), as plain .npy
arrays read with memory mapping and without pickle. Its folder name is a hash of the teacher's
files, the tokenised training set (so the data, the tokenizer and max_seq_length) and the
layers: a change to any of them gives a new cache, and runs that share them share it, also
when they start together (disk_cache: one process builds, the others wait).
"""
import contextlib
import glob
import hashlib
import itertools
import json
import os
import shutil
import socket
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


def shard_dir(cache_dir, key, size, batch_size, run):
    """Where the processes of one distributed run put their shares of the teacher pass before rank 0 merges them.
    The process count and batch size decide how the batches are shared out; `run` (an int naming rank 0's host
    and output folder, which no other live run can hold) keeps two runs started together with the same settings
    out of each other's shards, and lets a resumed run find its own."""
    return os.path.join(cache_dir, "shards", f"{key[:24]}-{size}x{batch_size}-{run:012x}")


def run_token(output_dir):
    """48 bits naming this host and this run's output folder (which no other live run can hold: file_lock)."""
    return int(hashlib.sha256(f"{socket.gethostname()}:{os.path.abspath(output_dir)}".encode()).hexdigest()[:12], 16)


def is_built(cache_dir, key, layers):
    return disk_cache.verify(os.path.join(cache_dir, key[:24]), required_files(layers)) is None


def required_files(layers):
    return ["logits.npy"] + (["cls.npy"] if layers else [])


# The cache's arrays and their types on disk ([CLS] states in half precision: half the disk and page cache).
DTYPES = {"idx": np.int64, "logits": np.float32, "cls": np.float16}
MERGE_ROWS = 4096  # bounds the memory of a merge: a slice of 12 layers' 768-wide [CLS] states is ~75 MB


def new_array(folder, name, num_examples, row_shape):
    """The cache's array `name` (DTYPES), [num_examples, *row_shape], created on disk and memory-mapped for writing."""
    return np.lib.format.open_memmap(os.path.join(folder, f"{name}.npy"), "w+", DTYPES[name],
                                     (num_examples, *row_shape))


def write_shard(folder, rank, size, forward, loader, log):
    """This process's share of the teacher pass (batches rank, rank + size, ...) as the folder shard{rank} in
    `folder`: raw rows appended batch by batch, so a share of millions of examples never sits in memory, and
    shard.json (row count, types, shapes) last; renamed into place once complete (an empty share when there are
    fewer batches than processes)."""
    tmp = os.path.join(folder, f".shard{rank}.{os.getpid()}")
    os.makedirs(tmp, exist_ok=True)
    rows, shapes = 0, {}
    progress = Progress(batch_costs(loader)[rank::size], log)
    try:
        with contextlib.ExitStack() as stack:
            files = {name: stack.enter_context(open(os.path.join(tmp, name + ".bin"), "wb")) for name in DTYPES}
            for batch in itertools.islice(loader, rank, None, size):
                batch_logits, batch_cls = forward(batch)
                arrays = {"idx": batch["idx"].numpy().reshape(-1), "logits": batch_logits.numpy(),
                          "cls": None if batch_cls is None else batch_cls.numpy()}
                for name, array in arrays.items():
                    if array is not None:
                        files[name].write(np.ascontiguousarray(array, DTYPES[name]).tobytes())
                        shapes[name] = list(array.shape[1:])
                rows += len(arrays["idx"])
                progress.advance()
        progress.close()
        meta = {"rows": rows, "arrays": {name: {"dtype": np.dtype(DTYPES[name]).str, "shape": shape}
                                         for name, shape in shapes.items()}}
        checkpoint.write_json(meta, os.path.join(tmp, "shard.json"))
        checkpoint.replace_dir(tmp, os.path.join(folder, f"shard{rank}"))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_shard(path):
    """{name: array memory-mapped from disk} of a complete shard folder; None if it is missing, incomplete or of
    other types (a file shorter or longer than shard.json says)."""
    try:
        with open(os.path.join(path, "shard.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta["rows"] == 0:
            return {"idx": np.zeros(0, DTYPES["idx"])}
        arrays = {}
        for name, spec in meta["arrays"].items():
            shape, file = (meta["rows"], *spec["shape"]), os.path.join(path, name + ".bin")
            if name not in DTYPES or spec["dtype"] != np.dtype(DTYPES[name]).str or \
                    os.path.getsize(file) != np.dtype(DTYPES[name]).itemsize * int(np.prod(shape)):
                return None
            arrays[name] = np.memmap(file, DTYPES[name], "r", shape=shape)
        return arrays
    except (OSError, ValueError, KeyError, TypeError):
        return None


def merge_shards(folder, shards, size, num_examples):
    """Fill `folder` from the `size` shards a distributed teacher pass wrote (the fill function of load_or_build);
    None, writing nothing, unless every shard is there and together they cover every example exactly once (the
    processes of a run on several machines write their shards on their own machine's disk)."""
    parts = [read_shard(os.path.join(shards, f"shard{rank}")) for rank in range(size)]
    if any(part is None for part in parts):
        return None
    idx = np.concatenate([part["idx"] for part in parts])
    if not num_examples or len(idx) != num_examples or not np.array_equal(np.sort(idx), np.arange(num_examples)):
        return None
    full = [part for part in parts if len(part["idx"])]
    for name in ("logits", "cls"):
        if name in full[0]:
            merged = new_array(folder, name, num_examples, full[0][name].shape[1:])
            for part in full:
                for start in range(0, len(part["idx"]), MERGE_ROWS):
                    rows = slice(start, start + MERGE_ROWS)
                    merged[np.asarray(part["idx"][rows])] = part[name][rows]
            merged.flush()
    return {"num_examples": num_examples, "shards": size}


def remove_shard(shards, rank):
    """Once the cache exists: this process's shard and any left by a killed earlier attempt of the same run; the
    folder too when it is the last (each machine of a multi-machine run cleans its own disk)."""
    for path in [os.path.join(shards, f"shard{rank}")] + glob.glob(os.path.join(glob.escape(shards), f".shard{rank}.*")):
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(shards)


def build(folder, forward, loader, num_examples, layers, log):
    """Run the teacher over the training set once (length-sorted batches) and write its arrays into `folder`.

    forward: batch -> (logits [b, classes], [CLS] states [b, pairs, hidden] or None), the teacher's outputs."""
    logits = cls = None
    progress = Progress(batch_costs(loader), log)
    for batch in loader:
        batch_logits, batch_cls = forward(batch)
        idx = batch["idx"].numpy().reshape(-1)
        if logits is None:
            logits = new_array(folder, "logits", num_examples, batch_logits.shape[1:])
            if batch_cls is not None:
                cls = new_array(folder, "cls", num_examples, batch_cls.shape[1:])
        logits[idx] = batch_logits.numpy()
        if cls is not None:
            cls[idx] = batch_cls.numpy().astype(DTYPES["cls"])
        progress.advance()
    progress.close()
    logits.flush()
    if cls is not None:
        cls.flush()
    del logits, cls
    return {"layers": list(layers), "num_examples": num_examples, "seconds": round(progress.seconds(), 1)}


def batch_costs(loader):
    """The work of each batch of `loader`, for the time left: its padded tokens where the sampler knows them
    (length-sorted batches shrink as the pass goes, so counting batches overstates the time left), else 1."""
    padded_tokens = getattr(getattr(loader, "batch_sampler", None), "padded_tokens", None)
    return padded_tokens() if padded_tokens else [1] * len(loader)


class Progress:
    """The teacher pass's progress over batches of known cost: a bar on a terminal, and a log line at each tenth of
    the work (a log file under nohup has no bar) with the rate and the time left."""

    def __init__(self, costs, log, every=0.1):
        self.costs, self.log, self.every = list(costs), log, every
        self.total, self.done, self.batches, self.logged = sum(self.costs), 0, 0, 0
        self.tic = time.time()
        self.bar = tqdm(total=self.total, desc="teacher", unit="token", unit_scale=True, leave=False,
                        disable=not sys.stderr.isatty())

    def seconds(self):
        return time.time() - self.tic

    def advance(self):
        cost = self.costs[self.batches]
        self.batches += 1
        self.done += cost
        self.bar.update(cost)
        tenths = int(self.done / max(self.total, 1) / self.every + 1e-9)
        if tenths > self.logged or self.batches == len(self.costs):
            self.logged = tenths
            seconds = self.seconds()
            left = seconds / max(self.done, 1) * (self.total - self.done)
            self.log(f"teacher cache: {self.batches}/{len(self.costs)} batches ({self.done / max(self.total, 1):.0%} "
                     f"of the work), {seconds:.0f} s, {self.batches / max(seconds, 1e-9):.1f} batches/s, "
                     f"about {left:.0f} s left")

    def close(self):
        self.bar.close()


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
