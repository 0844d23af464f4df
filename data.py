"""From a task's examples to what training reads: hold-out and subsamples, encoding, batch samplers, collators.

Where examples come from (built-in benchmarks, the user's files) is the task's business (tasks/).
"""
import math

import numpy as np
from paddle.io import BatchSampler, DataLoader, DistributedBatchSampler
from paddlenlp.data import DataCollatorWithPadding

from errors import InputError


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


def encode_split(ds, task, tokenizer, max_seq_length, first_idx=0):
    """Tokenise once, up front: every epoch then reads ready ids. `idx` counts from first_idx (unlabelled
    examples follow the train set's in the teacher cache)."""
    fn = encode(task, tokenizer, max_seq_length)
    return [fn(ds[i], first_idx + i) for i in range(len(ds))]


def mix(labelled, unlabelled, labelled_share=None):
    """One epoch's examples: the labelled ones, repeated to make about `labelled_share` of the epoch (None: once
    each), then the unlabelled ones (a transfer set, augmented copies) once each. Repeats are the same dicts."""
    if not unlabelled:
        return labelled
    repeats = 1 if labelled_share is None else \
        max(1, round(labelled_share * len(unlabelled) / ((1 - labelled_share) * len(labelled))))
    return labelled * repeats + unlabelled


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
        self.lengths = np.asarray(lengths)
        self.order = np.argsort(-self.lengths, kind="stable")
        self.batch_size = batch_size

    def __iter__(self):
        for i in range(0, len(self.order), self.batch_size):
            yield self.order[i:i + self.batch_size].tolist()

    def __len__(self):
        return (len(self.order) + self.batch_size - 1) // self.batch_size

    def padded_tokens(self):
        """Tokens of each batch once padded to its longest example (the first: longest first)."""
        return [int(self.lengths[self.order[i]]) * len(self.order[i:i + self.batch_size])
                for i in range(0, len(self.order), self.batch_size)]


def lengths_of(encoded):
    return [len(e["input_ids"]) for e in encoded]


def collator(tokenizer, unlabelled_rows=False):
    """Features -> padded numpy batch. Labels are stacked apart: PaddleNLP's collator casts every field to
    int64 when it returns numpy, which would truncate STS-B's scores (3.8 -> 3).
    unlabelled_rows: some training rows have no label (transfer set, augmented copies); a batch with any such
    row gets `labelled` (1/0 per row) and a placeholder 0 label for those rows, which the hard loss skips."""
    pad = DataCollatorWithPadding(tokenizer, return_tensors="np", return_attention_mask=True)

    def collate(features):
        batch = pad([{k: v for k, v in f.items() if k != "labels"} for f in features])
        has_label = [("labels" in f) for f in features]
        if features and all(has_label):
            batch["labels"] = np.asarray([f["labels"] for f in features])  # int64 ids or float64 scores
        elif unlabelled_rows:
            batch["labels"] = np.asarray([f.get("labels", 0) for f in features])
            batch["labelled"] = np.asarray(has_label, dtype="float32")
        return batch

    return collate


def train_loader(encoded, tokenizer, batch_size, seed, group_by_length=True, accumulation=1, unlabelled_rows=False):
    lengths = lengths_of(encoded) if group_by_length else None
    sampler = EpochBatchSampler(encoded, batch_size, seed, lengths=lengths, accumulation=accumulation)
    return DataLoader(encoded, batch_sampler=sampler, collate_fn=collator(tokenizer, unlabelled_rows), num_workers=0)


def eval_loader(encoded, tokenizer, batch_size):
    sampler = LengthSortedBatchSampler(lengths_of(encoded), batch_size)
    return DataLoader(encoded, batch_sampler=sampler, collate_fn=collator(tokenizer), num_workers=0)
