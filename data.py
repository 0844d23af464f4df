"""Tasks, their files, tokenisation and batching.

Built-in tasks are parsed by PaddleNLP's own dataset builders (`load_dataset`), online or from
local official files (`--data_dir`), so a local run reads exactly what a download would give.
Local files are checked first, row by row, so a malformed file is reported with its line
instead of failing deep inside the builder.
"""
import dataclasses
import math
import os

import numpy as np
from paddle.io import BatchSampler, DataLoader, DistributedBatchSampler
from paddlenlp.data import DataCollatorWithPadding
from paddlenlp.datasets import load_dataset
from paddlenlp.datasets.glue import Glue

from args import InputError
from own_data.reader import check_utf8
from own_data.task import OwnFiles, own_task
from training.metrics import metric_names
from training import objective
from training.objective import Classification, Regression
from training.task import Task


class BenchmarkFiles:
    """The reader of a built-in task: PaddleNLP's dataset builder, on a download or on --data_dir's official files."""

    def split_files(self, task, splits, data_dir):
        """{split: path} of the files a run reads; {} when they are downloaded."""
        return split_files(splits, data_dir) if data_dir is not None else {}

    def load_splits(self, task, splits, data_dir=None):
        return load_splits(task, splits, data_dir)

    def load_file(self, task, split, path):
        return load_file(task, split, path)


BENCHMARK_FILES = BenchmarkFiles()


def _glue(name, text_keys, metric="acc", dev_splits=("dev",), objective=None):
    objective = objective or Classification(Glue.BUILDER_CONFIGS[name]["labels"])
    return Task(name, "glue", name, text_keys, "labels", objective, metric, dev_splits, BENCHMARK_FILES)


PAIR = ("sentence1", "sentence2")
TASKS = {
    "sst-2": _glue("sst-2", ("sentence",)),
    "cola": _glue("cola", ("sentence",), metric="mcc"),
    "mrpc": _glue("mrpc", PAIR, metric="acc_f1"),
    "qqp": _glue("qqp", PAIR, metric="acc_f1"),
    "rte": _glue("rte", PAIR),
    "wnli": _glue("wnli", PAIR),
    "sts-b": _glue("sts-b", PAIR, metric="pearson_spearman", objective=Regression(0.0, 5.0)),
    "qnli": _glue("qnli", PAIR),
    "mnli": _glue("mnli", PAIR, dev_splits=("dev_matched", "dev_mismatched")),
    "chnsenticorp": Task("chnsenticorp", "chnsenticorp", None, ("text",), "label", Classification(("0", "1")), "acc",
                         ("dev",), BENCHMARK_FILES),
}

# ChnSentiCorp columns by split, as PaddleNLP's builder unpacks them (header line first).
CHNSENTICORP_COLUMNS = {"train": ("label", "text_a"), "dev": ("qid", "label", "text_a"), "test": ("qid", "text_a")}


def get_task(name):
    if name.lower() not in TASKS:
        raise InputError(f"--task_name {name!r} is not one of {', '.join(TASKS)}")
    return TASKS[name.lower()]


def task_from_description(d):
    """The task a model was trained on, from Task.describe()'s dict."""
    if d.get("dataset") != "own" and d.get("task_name") in TASKS:
        return TASKS[d["task_name"]]
    return Task(d["task_name"], "own", None, tuple(d["text_columns"]), d["label_column"],
                objective.from_description(d), d["metric"], ("dev",), reader=OwnFiles({}))


def task_of(args):
    """The run's task: a built-in one (--task_name), or one made from --train_file and --dev_file."""
    if args.train_file:
        task = own_task(args)
    else:
        task = dataclasses.replace(get_task(args.task_name), best_metric=args.metric_for_best)
    if task.best_metric and task.best_metric not in metric_names(task.metric):
        raise InputError(f"--metric_for_best {task.best_metric}: {task.name} computes "
                         f"{', '.join(metric_names(task.metric))}")
    return task


def split_file(data_dir, split):
    return os.path.join(data_dir, f"{split}.tsv")


def _row_layout(task, split):
    """(header lines to skip, columns a row needs, text columns, label column or None)."""
    if task.dataset == "glue":
        _, _, fields, skip = Glue.BUILDER_CONFIGS[task.config]["splits"][split]
        fields = list(fields)
        if split.startswith("test"):
            return skip, max(fields) + 1, fields, None
        return skip, max(fields) + 1, fields[:-1], fields[-1]
    columns = CHNSENTICORP_COLUMNS[split]
    label = columns.index("label") if "label" in columns else None
    return 1, len(columns), [columns.index("text_a")], label


def check_split_file(task, split, path):
    """Raise InputError naming file and line for a row the builder would misread or crash on.

    Windows line endings and a UTF-8 byte order mark need nothing: the builders strip every row
    (so the "\\r") and skip the header line, where the mark stands.
    """
    check_utf8(path)
    skip, width, text_cols, label_col = _row_layout(task, split)
    exact = task.dataset == "chnsenticorp"  # its builder unpacks rows: extra columns break it
    rows = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= skip:
                continue
            cols = line.strip().split("\t")
            if len(cols) < width or (exact and len(cols) != width):
                raise InputError(f"{path}:{lineno}: expected {width} tab-separated columns for "
                                 f"{task.name} {split}, found {len(cols)}")
            problem = task.objective.label_error(cols[label_col]) if label_col is not None else None
            if problem:
                raise InputError(f"{path}:{lineno}: {problem}")
            if all(not cols[c].strip() for c in text_cols):
                raise InputError(f"{path}:{lineno}: empty text")
            rows += 1
    if rows == 0:
        raise InputError(f"{path}: no examples")


def split_files(splits, data_dir):
    """{split: path} of the official files in `data_dir`, each checked to exist (not yet parsed)."""
    if not os.path.isdir(data_dir):
        raise InputError(f"--data_dir {data_dir}: no such folder")
    files = {}
    for split in splits:
        files[split] = split_file(data_dir, split)
        if not os.path.isfile(files[split]):
            raise InputError(f"--data_dir {data_dir}: missing {os.path.basename(files[split])} for the {split} split")
    return files


def load_splits(task, splits, data_dir=None):
    """{split: MapDataset of raw examples}, from `data_dir` if given, else PaddleNLP's download."""
    if data_dir is None:
        try:
            loaded = load_dataset(task.dataset, name=task.config, splits=list(splits))
        except Exception as e:  # network, hub or md5 failures all mean the same to the user
            raise InputError(f"could not download {task.name} ({type(e).__name__}: {str(e)[:200]}); "
                             f"give --data_dir with the official TSV files") from e
        return _by_split(splits, loaded)
    files = split_files(splits, data_dir)
    for split, path in files.items():
        check_split_file(task, split, path)
    loaded = load_dataset(task.dataset, name=task.config, data_files=list(files.values()), splits=list(splits))
    return _by_split(splits, loaded)


def load_file(task, split, path):
    """One local file in the layout of the task's `split` (e.g. a GLUE test.tsv), checked and parsed."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    check_split_file(task, split, path)
    return load_dataset(task.dataset, name=task.config, data_files=[path], splits=[split])


def _by_split(splits, loaded):
    """load_dataset returns the dataset itself for one split, a tuple for several."""
    return dict(zip(splits, loaded)) if len(splits) > 1 else {splits[0]: loaded}


def split_at_random(train, n, seed=0):
    """(rest, picked): n examples of train drawn at random with a fixed seed; both keep file order."""
    picked = set(np.random.RandomState(seed).permutation(len(train))[:n].tolist())
    return [train[i] for i in range(len(train)) if i not in picked], [train[i] for i in sorted(picked)]


def hold_out(train, n, seed=0):
    """(rest, held_out): n examples taken from train at random (fixed seed), to choose hyper-parameters on
    without touching the dev set that is reported."""
    if not 0 < n < len(train):
        raise InputError(f"--holdout_from_train {n}: must be between 1 and {len(train) - 1} (train has {len(train)})")
    return split_at_random(train, n, seed)


def subsample(train, n, seed=0):
    """n examples of train at random, in their file order; a fixed seed, so every run sees the same ones."""
    if n >= len(train):
        raise InputError(f"--max_train_examples {n}: train has only {len(train)} examples (0 uses them all)")
    return split_at_random(train, n, seed)[1]


def encode(task, tokenizer, max_seq_length):
    """A function: raw example -> input_ids, token_type_ids, labels, plus its position `idx`."""

    def fn(example, idx):
        texts = [example[k] for k in task.text_keys]
        enc = tokenizer(text=texts[0], text_pair=texts[1] if len(texts) > 1 else None,
                        max_length=max_seq_length, truncation=True)
        out = {"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"], "idx": idx}
        label = example.get(task.label_key)
        if label not in (None, ""):
            out["labels"] = task.objective.label_value(label)
        return out

    return fn


def encode_split(ds, task, tokenizer, max_seq_length):
    """Tokenise once, up front: every epoch then reads ready ids."""
    fn = encode(task, tokenizer, max_seq_length)
    return [fn(ds[i], i) for i in range(len(ds))]


class EpochBatchSampler(DistributedBatchSampler):
    """DistributedBatchSampler whose order depends on (seed, epoch) only, and that can start mid-epoch.

    An optimizer step consumes one global batch of batch_size * nranks * accumulation examples:
    `accumulation` micro-batches, each split evenly over the ranks. Global batches do not depend
    on how they are split, so 2 processes, or 2 accumulated micro-batches, see exactly the data
    of 1 process with a twice larger batch.
    With `lengths`, batches are grouped by length: shuffle, sort within chunks of `group_chunk`
    global batches, cut into batches, shuffle the batches. Batches then hold sentences of similar
    length and pad little, while every epoch still sees a new order.
    """

    def __init__(self, dataset, batch_size, seed, shuffle=True, lengths=None, group_chunk=50, accumulation=1):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=False)
        self.seed = seed
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.group_chunk = group_chunk
        self.accumulation = accumulation
        self.skip_batches = 0
        self.max_batches = None

    def set_epoch(self, epoch, skip_batches=0, max_batches=None):
        """Start `epoch` after its first `skip_batches` micro-batches (resuming), and yield at most `max_batches`.

        Stopping through `max_batches` lets the DataLoader run out by itself: leaving its
        iterator mid-way leaves a reader thread behind that can abort the process at exit.
        """
        self.epoch = epoch
        self.skip_batches = skip_batches
        self.max_batches = max_batches

    def global_batches(self):
        n = len(self.dataset)
        rng = np.random.RandomState([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        size = self.batch_size * self.nranks * self.accumulation
        if self.lengths is not None:
            chunk = size * self.group_chunk
            order = np.concatenate([c[np.argsort(-self.lengths[c], kind="stable")]
                                    for c in np.split(order, range(chunk, n, chunk))])
        batches = [order[i:i + size] for i in range(0, n, size)]
        if self.lengths is not None and self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches, order

    def micro_batches(self):
        """This epoch's micro-batches, each padded (by wrapping) to a multiple of nranks examples."""
        batches, order = self.global_batches()
        micro = self.batch_size * self.nranks
        out = []
        for batch in batches:
            for i in range(0, len(batch), micro):
                part = batch[i:i + micro]
                if len(part) % self.nranks:  # every rank must run the same number of steps
                    part = np.concatenate([part, order[:self.nranks - len(part) % self.nranks]])
                out.append(part)
        return out

    def __iter__(self):
        end = None if self.max_batches is None else self.skip_batches + self.max_batches
        for part in self.micro_batches()[self.skip_batches:end]:
            local = len(part) // self.nranks
            yield part[self.local_rank * local:(self.local_rank + 1) * local].tolist()

    def __len__(self):
        """Micro-batches per epoch: `accumulation` per full global batch, plus those of the ragged last one."""
        micro = self.batch_size * self.nranks
        full, rest = divmod(len(self.dataset), micro * self.accumulation)
        return full * self.accumulation + math.ceil(rest / micro)


class LengthSortedBatchSampler(BatchSampler):
    """Evaluation batches of similar length (little padding); `predict` restores input order by `idx`."""

    def __init__(self, lengths, batch_size):
        self.order = np.argsort(-np.asarray(lengths), kind="stable")
        self.batch_size = batch_size

    def __iter__(self):
        for i in range(0, len(self.order), self.batch_size):
            yield self.order[i:i + self.batch_size].tolist()

    def __len__(self):
        return (len(self.order) + self.batch_size - 1) // self.batch_size


def lengths_of(encoded):
    return [len(e["input_ids"]) for e in encoded]


def collator(tokenizer):
    """Features -> padded numpy batch. Labels are stacked apart: PaddleNLP's collator casts every field to
    int64 when it returns numpy, which would truncate STS-B's scores (3.8 -> 3)."""
    pad = DataCollatorWithPadding(tokenizer, return_tensors="np", return_attention_mask=True)

    def collate(features):
        batch = pad([{k: v for k, v in f.items() if k != "labels"} for f in features])
        if features and "labels" in features[0]:
            batch["labels"] = np.asarray([f["labels"] for f in features])  # int64 ids or float64 scores
        return batch

    return collate


def train_loader(encoded, tokenizer, batch_size, seed, group_by_length=True, accumulation=1):
    lengths = lengths_of(encoded) if group_by_length else None
    sampler = EpochBatchSampler(encoded, batch_size, seed, lengths=lengths, accumulation=accumulation)
    return DataLoader(encoded, batch_sampler=sampler, collate_fn=collator(tokenizer), num_workers=0)


def eval_loader(encoded, tokenizer, batch_size):
    sampler = LengthSortedBatchSampler(lengths_of(encoded), batch_size)
    return DataLoader(encoded, batch_sampler=sampler, collate_fn=collator(tokenizer), num_workers=0)
