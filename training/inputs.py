"""What the training loop consumes: the tokenised splits, their loaders and the teacher's outputs.

With local files (--data_dir, or --train_file and --dev_file) the tokenised splits come from the encoded-split cache, and for KD and PKD the
teacher's outputs from the teacher cache, so that only the first run of a grid search pays for them.
"""
import tempfile

import data
import modeling
from deploy import teacher_program
from runtime import encoded_cache, teacher_cache
from runtime.run_log import logger
from tasks import augment, transfer


def uses_cache_dir(args):
    """The teacher's outputs are cached for KD and PKD, and the tokenised splits of local files for every mode."""
    return args.data_dir is not None or args.train_file is not None or (args.mode != "ft" and not args.no_teacher_cache)


def load_data(args, task):
    """Raw splits: train (optionally cut to a fixed random subset, or with a slice held out for evaluation),
    the dev splits, and with --holdout_from_train the held-out slice."""
    raw = task.reader.load_splits(task, ("train",) + task.dev_splits, args.data_dir)
    if args.holdout_from_train:
        raw.update(zip(("train", "holdout"), data.hold_out(raw["train"], args.holdout_from_train)))
    if args.max_train_examples:
        raw["train"] = data.subsample(raw["train"], args.max_train_examples)
    return raw


def load_encoded(args, task, tokenizer):
    """({split: tokenised examples}, names of the evaluation splits)."""
    dev_splits = ("holdout",) if args.holdout_from_train else task.dev_splits

    def encode():
        raw = load_data(args, task)
        return {s: data.encode_split(raw[s], task, tokenizer, args.max_seq_length) for s in ("train",) + dev_splits}

    files = task.reader.split_files(task, ("train",) + task.dev_splits, args.data_dir)
    if not files:  # downloaded: nothing on disk to key a cache by
        encoded = encode()
    else:
        key = encoded_cache.cache_key(task, files, tokenizer, args.max_seq_length, args.holdout_from_train,
                                      args.max_train_examples)
        encoded = encoded_cache.load_or_encode(args.teacher_cache_dir, key, ("train",) + dev_splits, encode, logger)
    if args.holdout_from_train:
        logger.info("evaluating on %d examples held out from train, not on the dev set", len(encoded["holdout"]))
    logger.info("train %d examples, %s", len(encoded["train"]), ", ".join(f"{s} {len(encoded[s])}" for s in dev_splits))
    return encoded, dev_splits


def load_unlabelled(args, task, tokenizer, first_idx, writes=True):
    """(tokenised examples only the teacher labels, their counts for results.json): the transfer files' rows and
    the augmented copies, screened for texts the run is judged on; idx from first_idx. ([], {}) without them.
    writes: this process writes --write_augmented (one process of a distributed run does)."""
    if not (args.transfer_file or args.augment):
        return [], {}
    raw = load_data(args, task)
    judged = [raw[s] for s in raw if s != "train"]  # under --holdout_from_train dev too: results are reported on it
    tests = task.reader.local_test_splits(task, args.data_dir)  # --test_file, or a test.tsv beside the official files
    judged += task.reader.load_splits(task, tests, args.data_dir).values() if tests else []
    judged_keys = transfer.evaluation_keys(task, *judged)
    examples, sources, counts = [], [], {}
    if args.transfer_file:
        examples, sources, notes = transfer.read_transfer(task, args.transfer_file, args.transfer_text_columns)
        for note in notes:
            logger.info(note)
        examples, sources, counts["transfer_eval_overlap"] = transfer.screen_overlap(
            examples, sources, judged_keys, args.eval_overlap, "transfer", task.text_keys)
        counts["transfer_examples"] = len(examples)
    if args.augment:
        copies, copy_sources = augmented(args, task, tokenizer, raw["train"], examples, sources)
        copies, copy_sources, counts["augmented_eval_overlap"] = transfer.screen_overlap(
            copies, copy_sources, judged_keys, args.eval_overlap, "augmented", task.text_keys)
        counts["augmented_examples"] = len(copies)
        counts["augment"] = args.augment  # the setting; the count above differs by seed (duplicates dropped)
        if args.write_augmented and writes:
            augment.write_examples(args.write_augmented, task.text_keys, copies, copy_sources)
        examples, sources = examples + copies, sources + copy_sources
    logger.info("unlabelled examples the teacher labels: %s; %d were dev or test texts (--eval_overlap %s)",
                ", ".join(f"{k.split('_')[0]} {counts[k]}" for k in counts if k.endswith("examples")),
                sum(v for k, v in counts.items() if k.endswith("overlap")), args.eval_overlap)
    return data.encode_split(examples, task, tokenizer, args.max_seq_length, first_idx), counts


def augmented(args, task, tokenizer, train, transfer_examples, transfer_sources):
    """(copies, their sources): --augment copies of the labelled examples (and with --augment_transfer of the
    transfer set), without labels."""
    originals = [train[i] for i in range(len(train))]
    sources = [f"train example {i + 1}" for i in range(len(originals))]
    if args.augment_transfer:
        originals, sources = originals + transfer_examples, sources + transfer_sources
    copies, origins = augment.augment(originals, task.text_keys, args.augment, args.seed, tokenizer.mask_token)
    return copies, [f"augmented from {sources[o]}" for o in origins]


def make_loaders(args, encoded, dev_splits, tokenizer, unlabelled=()):
    """(train loader, {split: eval loader}); unlabelled examples join the labelled ones in every epoch (data.mix)."""
    epoch = data.mix(encoded["train"], list(unlabelled), args.labelled_share)
    if unlabelled:  # --labelled_share only repeats labelled examples: a share below theirs leaves it as it is
        labelled, distinct = len(epoch) - len(unlabelled), len(encoded["train"])
        logger.info("an epoch: %d labelled examples (%d x %d) and %d unlabelled, labelled share %.1f%%", labelled,
                    labelled // distinct, distinct, len(unlabelled), 100 * labelled / len(epoch))
    loader = data.train_loader(epoch, tokenizer, args.batch_size, args.seed, args.group_by_length,
                               args.gradient_accumulation_steps, unlabelled_rows=bool(unlabelled))
    return loader, {s: data.eval_loader(encoded[s], tokenizer, args.batch_size) for s in dev_splits}


def make_teacher_outputs(args, teacher, layers, encoded_train, tokenizer, world):
    """(batch -> teacher logits and [CLS] states, cache key): from the on-disk cache, or the live teacher."""
    if teacher is None:
        return None, None

    def forward(batch):
        return modeling.teacher_forward(teacher, batch, layers)

    if args.no_teacher_cache:
        return forward, None
    build_forward = teacher_pass(args, teacher, layers, forward)
    loader = data.eval_loader(encoded_train, tokenizer, args.batch_size)  # length-sorted: little padding
    key = teacher_cache.cache_key(args.teacher_finetuned_model_path, encoded_train, layers)
    shards = sharded_pass(args, world, key, build_forward, len(encoded_train), loader, layers) if world.size > 1 else None

    def cached():
        fill = shards and (lambda folder: teacher_cache.merge_shards(folder, shards, world.size, len(encoded_train)))
        return teacher_cache.load_or_build(args.teacher_cache_dir, key, build_forward, loader, len(encoded_train),
                                           layers, logger, fill)

    outputs = cached() if world.rank == 0 else None
    world.barrier()  # the other ranks read what rank 0 wrote
    if shards:  # merged, or not needed because another run built the cache meanwhile
        teacher_cache.remove_shard(shards, world.rank)
    return outputs or cached()


def sharded_pass(args, world, key, forward, num_examples, loader, layers):
    """With several processes and no cache yet, each runs the teacher over its share of the batches into the
    folder it returns, for rank 0 to fill the cache from (teacher_cache.merge_shards). None when the cache exists."""
    if world.agree(teacher_cache.is_built(args.teacher_cache_dir, key, layers)):  # rank 0's view, for all ranks
        return None
    shards = teacher_cache.shard_dir(args.teacher_cache_dir, key, world.size, args.batch_size,
                                     world.share(teacher_cache.run_token(args.output_dir)))  # rank 0's
    logger.info("teacher cache: process %d of %d runs the teacher over its share of %d examples", world.rank + 1,
                world.size, num_examples)
    teacher_cache.write_shard(shards, world.rank, world.size, forward, loader, logger.info)
    world.barrier()
    return shards


def teacher_pass(args, teacher, layers, live):
    """The forward that fills the teacher cache. On the CPU, the teacher exported as a paddle.inference program
    (made at its first batch, so a cache that exists costs nothing): faster than the eager teacher there
    (benchmarks/teacher_pass.py). On a GPU, or if the export fails, the eager teacher (`live`)."""
    if args.device != "cpu":
        return live
    made = {}

    def forward(batch):
        if "forward" not in made:
            made["folder"] = tempfile.TemporaryDirectory(prefix="teacher-program-")
            try:
                made["forward"] = teacher_program.exported_forward(teacher, layers, made["folder"].name)
                logger.info("teacher cache: the teacher runs as an exported paddle.inference program")
            except Exception as e:  # a model the exporter cannot trace still gets its cache, eagerly
                logger.warning("teacher cache: exporting the teacher failed (%s: %s); running it eagerly",
                               type(e).__name__, str(e)[:200])
                made["forward"] = live
        return made["forward"](batch)

    return forward
