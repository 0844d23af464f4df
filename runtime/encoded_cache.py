"""Tokenised splits kept on disk, so that the runs of a grid search tokenise their data once, not once each.

Only for --data_dir: the cache is keyed by the bytes of the files read. A downloaded task is
tokenised at every run (where PaddleNLP keeps its files is its own business); a grid search
should give --data_dir. A run's splits (train after --holdout_from_train / --max_train_examples,
and the evaluation splits) are stored, per split, as plain .npy arrays read without pickle:
every example's input_ids concatenated (int32), the offsets where each starts (int64, n + 1),
token_type_ids concatenated (int8) and labels (int64, or float64 for scores). The folder,
TEACHER_CACHE_DIR/encoded/KEY, is shared by processes as the teacher cache is (disk_cache: one
builds, the others wait); KEY is a sha256 over the data files' bytes, the tokenizer (class,
settings, and the bytes of its vocabulary and special-token files), PaddleNLP's version, the
task, --max_seq_length and the two selection flags.
"""
import hashlib
import json
import os

import numpy as np
import paddlenlp

from runtime import checkpoint
from runtime import disk_cache

FORMAT = 1  # raise when what is stored, or how examples are selected or encoded, changes
FIELDS = ("input_ids", "offsets", "token_type_ids", "labels")


def tokenizer_fingerprint(tokenizer):
    """sha256 over what decides the tokenizer's output: its class, its settings, and its files' bytes."""
    settings = {}
    for name, value in sorted(tokenizer.init_kwargs.items()):
        is_file = isinstance(value, str) and os.path.isfile(value)
        settings[name] = "sha256:" + checkpoint.file_sha256(value) if is_file else value
    added = sorted(getattr(tokenizer, "added_tokens_encoder", {}).items())
    blob = json.dumps([type(tokenizer).__name__, settings, added, paddlenlp.__version__], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_key(task, files, tokenizer, max_seq_length, holdout_from_train, max_train_examples):
    """files: {split: path} of every data file read."""
    parts = {"format": FORMAT, "task": task.describe(), "max_seq_length": max_seq_length,
             "holdout_from_train": holdout_from_train, "max_train_examples": max_train_examples,
             "tokenizer": tokenizer_fingerprint(tokenizer),
             "files": {split: checkpoint.file_sha256(path) for split, path in sorted(files.items())}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def labels_array(examples):
    """Every example of a train or dev file has a label (tasks.benchmarks.check_split_file); class ids or scores."""
    labels = [e["labels"] for e in examples]
    return np.array(labels, dtype=np.int64 if all(isinstance(v, int) for v in labels) else np.float64)


def write_split(folder, split, examples):
    lengths = [len(e["input_ids"]) for e in examples]
    assert [e["idx"] for e in examples] == list(range(len(examples))), "idx must be the position"
    arrays = {
        "input_ids": np.fromiter((t for e in examples for t in e["input_ids"]), np.int32, sum(lengths)),
        "offsets": np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        "token_type_ids": np.fromiter((t for e in examples for t in e["token_type_ids"]), np.int8, sum(lengths)),
        "labels": labels_array(examples),
    }
    for field, array in arrays.items():
        np.save(os.path.join(folder, f"{split}.{field}.npy"), array, allow_pickle=False)


def read_split(folder, split):
    """The examples as data.encode_split makes them: lists of Python ints, `idx` their position."""
    ids, offsets, types, labels = (np.load(os.path.join(folder, f"{split}.{field}.npy"), allow_pickle=False)
                                   for field in FIELDS)
    ids, offsets, types, labels = ids.tolist(), offsets.tolist(), types.tolist(), labels.tolist()
    return [{"input_ids": ids[offsets[i]:offsets[i + 1]], "token_type_ids": types[offsets[i]:offsets[i + 1]],
             "idx": i, "labels": label} for i, label in enumerate(labels)]


def load_or_encode(cache_dir, key, splits, encode, log):
    """{split: encoded examples}: read from CACHE_DIR/encoded/KEY, or made by encode() and stored there first."""
    folder = os.path.join(cache_dir, "encoded", key[:24])

    def build(tmp):
        log.info("encoded data: tokenising %s into %s", ", ".join(splits), folder)
        encoded = encode()
        for split in splits:
            write_split(tmp, split, encoded[split])
        return {"key": key, "examples": {split: len(encoded[split]) for split in splits}}

    required = [f"{split}.{field}.npy" for split in splits for field in FIELDS]
    disk_cache.obtain(folder, build, required, log, "encoded data")
    return {split: read_split(folder, split) for split in splits}
