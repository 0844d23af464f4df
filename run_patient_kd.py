"""Train a BERT student by fine-tuning (FT), vanilla KD or Patient-KD, and keep the best model.

The teacher is fine-tuned with the same script: FT mode with a student as deep as the
pre-trained model (see scripts/finetune_teacher.sh).
"""
import os

# Before paddle is imported: it pins OpenMP to 1 thread when this is unset (1.5x slower on CPU).
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn.functional as F  # noqa: E402
from paddlenlp.transformers import LinearDecayWithWarmup  # noqa: E402
from paddlenlp.utils.log import logger as paddlenlp_logger  # noqa: E402

import data  # noqa: E402
import modeling  # noqa: E402
import teacher_cache  # noqa: E402
from args import InputError, parse_args  # noqa: E402
import checkpoint  # noqa: E402
from kd_loss import layer_pairs, pkd_loss, stack_cls  # noqa: E402
from metrics import main_metric_name, task_metrics  # noqa: E402

logger = logging.getLogger("pkd")
paddlenlp_logger.set_level("WARNING")  # its per-file INFO lines would drown the training log


def setup_logging(output_dir):
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for handler in (logging.StreamHandler(sys.stdout), logging.FileHandler(os.path.join(output_dir, "train.log"))):
        handler.setFormatter(fmt)
        logger.addHandler(handler)


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def prepare_output_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write_test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        raise InputError(f"--output_dir {path}: not writable ({e.strerror})") from e


def build_models(args, task):
    """(tokenizer, teacher or None, student, teacher layers matched by the PT loss)."""
    num_classes = len(task.labels)
    teacher = None
    if args.teacher_finetuned_model_path and (args.mode != "ft" or args.student_init == "teacher"):
        teacher = modeling.load_teacher(args.teacher_finetuned_model_path, num_classes)
    if args.student_init == "teacher":
        source = teacher.bert
        base_config = teacher.bert.config
    else:
        source = modeling.load_pretrained_bert(args.model_name_or_path)
        base_config = source.config
        if teacher is not None:
            modeling.check_same_architecture(source.config, teacher.bert.config,
                                             f"--model_name_or_path {args.model_name_or_path}",
                                             f"--teacher_finetuned_model_path {args.teacher_finetuned_model_path}")
    config = modeling.student_config(base_config, args.num_layers_of_student_model, num_classes)
    if teacher is not None and config.num_hidden_layers > teacher.bert.config.num_hidden_layers:
        raise InputError(f"--num_layers_of_student_model {config.num_hidden_layers} is deeper than the "
                         f"{teacher.bert.config.num_hidden_layers}-layer teacher")
    student = modeling.build_student(config, source)
    del source
    use_teacher_tokenizer = teacher is not None and os.path.isfile(
        os.path.join(args.teacher_finetuned_model_path, "vocab.txt"))
    tokenizer = modeling.load_tokenizer(args.teacher_finetuned_model_path, "--teacher_finetuned_model_path") \
        if use_teacher_tokenizer else modeling.load_tokenizer(args.model_name_or_path, "--model_name_or_path")
    if args.mode == "ft":
        teacher = None  # only needed to initialise the student
    layers = []
    if args.mode == "pkd":
        layers = [t for _, t in layer_pairs(config.num_hidden_layers, teacher.bert.config.num_hidden_layers,
                                            args.strategy)]
    return tokenizer, teacher, student, layers


def build_optimizer(args, model, total_steps):
    scheduler = LinearDecayWithWarmup(args.learning_rate, total_steps, args.warmup_proportion)
    # AdamW hands apply_decay_param_fun the internal names (linear_3.w_0), not the structured ones.
    decay = {p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler, parameters=model.parameters(), weight_decay=args.weight_decay,
        epsilon=args.adam_epsilon, apply_decay_param_fun=lambda name: name in decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(args.max_grad_norm))
    return optimizer, scheduler


def model_inputs(batch):
    return dict(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"])


def compute_loss(student, teacher_outputs, batch, num_pairs, args):
    """Forward the student; teacher_outputs(batch) gives the teacher's (logits, [CLS] states) or is None."""
    out = student(**model_inputs(batch), output_hidden_states=args.beta > 0, return_dict=True)
    teacher_logits = teacher_cls = student_cls = None
    if teacher_outputs is not None:
        teacher_logits, teacher_cls = teacher_outputs(batch)
    if args.beta > 0:
        student_cls = stack_cls(out.hidden_states, range(1, num_pairs + 1))
    return pkd_loss(out.logits, teacher_logits, batch["labels"], student_cls, teacher_cls,
                    args.alpha, args.T, args.beta)


@paddle.no_grad()
def predict(model, loader):
    """Logits [n, classes] and labels [n] over a whole split, in input order."""
    model.eval()
    logits, labels, idx = [], [], []
    for batch in loader:
        logits.append(model(**model_inputs(batch)).numpy())
        labels.append(batch["labels"].numpy().reshape(-1))
        idx.append(batch["idx"].numpy().reshape(-1))
    model.train()
    order = np.argsort(np.concatenate(idx))
    return np.concatenate(logits)[order], np.concatenate(labels)[order]


def evaluate(model, dev_loaders, task):
    """All dev metrics plus the mean CE loss; MNLI's second split is reported with an `mm_` prefix."""
    results = {}
    for i, (split, loader) in enumerate(dev_loaders.items()):
        logits, labels = predict(model, loader)
        metrics = task_metrics(task.metric, logits, labels)
        metrics["loss"] = float(F.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(labels)).item())
        prefix = "" if i == 0 else "mm_"
        results.update({prefix + k: v for k, v in metrics.items()})
    return results


def format_parts(loss, parts):
    shown = " ".join(f"{k} {v:.4f}" for k, v in parts.items() if v is not None)
    return f"loss {loss:.4f} ({shown})"


# Flags that define what a run computes: a checkpoint made with other values is not resumed.
RUN_DEFINING_FLAGS = ("task_name", "model_name_or_path", "teacher_finetuned_model_path", "data_dir",
                      "num_layers_of_student_model", "student_init", "alpha", "T", "beta", "strategy",
                      "num_train_epochs", "max_steps", "batch_size", "max_seq_length", "learning_rate",
                      "warmup_proportion", "weight_decay", "adam_epsilon", "max_grad_norm", "group_by_length", "seed")


def run_config(args):
    return {k: getattr(args, k) for k in RUN_DEFINING_FLAGS}


def reseed(seed, step):
    """Dropout RNG derived from (seed, step) at every checkpoint: a resumed run draws the same masks."""
    paddle.seed((seed * 1_000_003 + step) % (2 ** 31))


def resume_from(args, student, optimizer):
    """Trainer state of the newest intact checkpoint of this same run, or None to start afresh."""
    for path in checkpoint.list_checkpoints(args.output_dir):
        problem = checkpoint.verify_checkpoint(path)
        if problem:
            logger.warning("not resuming from %s: %s", path, problem)
            continue
        state = json.load(open(os.path.join(path, "trainer_state.json"), encoding="utf-8"))
        diff = [f"--{k} {state['config'].get(k)} vs {v}" for k, v in run_config(args).items()
                if state["config"].get(k) != v]
        if diff:
            raise InputError(f"--output_dir {args.output_dir} holds a checkpoint of a different run "
                             f"({'; '.join(diff)}): use another --output_dir or remove its checkpoint-* folders")
        state = checkpoint.load_checkpoint(path, student, optimizer)
        reseed(args.seed, state["step"])
        logger.info("resumed from %s (step %d)", path, state["step"])
        return state
    if args.resume:
        raise InputError(f"--resume: no intact checkpoint in {args.output_dir}")
    return None


def make_teacher_outputs(args, teacher, layers, encoded_train, tokenizer):
    """(batch -> teacher logits and [CLS] states, cache key): from the on-disk cache, or the live teacher."""
    if teacher is None:
        return None, None
    if args.no_teacher_cache:
        return (lambda batch: modeling.teacher_forward(teacher, batch, layers)), None
    loader = data.eval_loader(encoded_train, tokenizer, args.batch_size)  # length-sorted: little padding
    return teacher_cache.load_or_build(args.teacher_cache_dir, args.teacher_finetuned_model_path, teacher,
                                       encoded_train, loader, layers, logger.info)


def new_results(args, task, student, pairs, total_steps):
    return {"task": task.name, "mode": args.mode, "strategy": args.strategy if args.mode == "pkd" else None,
            "alpha": args.alpha, "T": args.T, "beta": args.beta, "layer_pairs": pairs,
            "num_student_layers": student.bert.config.num_hidden_layers, "seed": args.seed,
            "best_metric_name": main_metric_name(task.metric), "best_metric": None, "best_step": None,
            "metrics": None, "history": [], "train_log": [], "train_seconds": 0.0, "total_steps": total_steps,
            "finished": False}


def do_train(args):
    task = data.get_task(args.task_name)
    prepare_output_dir(args.output_dir)
    setup_logging(args.output_dir)
    paddle.set_device(args.device)
    set_seed(args.seed)
    logger.info("mode %s | task %s | args %s", args.mode, task.name, vars(args))

    raw = data.load_splits(task, ("train",) + task.dev_splits, args.data_dir)
    tokenizer, teacher, student, teacher_layers = build_models(args, task)
    pairs = [[s, t] for s, t in zip(range(1, len(teacher_layers) + 1), teacher_layers)]
    logger.info("student: %d layers, %.1fM parameters", student.bert.config.num_hidden_layers,
                modeling.count_parameters(student) / 1e6)
    if pairs:
        logger.info("PKD-%s layer pairs [student, teacher] (1-based): %s", args.strategy, pairs)

    encoded = {s: data.encode_split(ds, task, tokenizer, args.max_seq_length) for s, ds in raw.items()}
    loader = data.train_loader(encoded["train"], tokenizer, args.batch_size, args.seed, args.group_by_length)
    dev_loaders = {s: data.eval_loader(encoded[s], tokenizer, args.batch_size) for s in task.dev_splits}
    steps_per_epoch = len(loader)
    total_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * args.num_train_epochs
    logger.info("train %d examples, %s; %d steps (%d per epoch)", len(encoded["train"]),
                ", ".join(f"{s} {len(encoded[s])}" for s in task.dev_splits), total_steps, steps_per_epoch)
    optimizer, scheduler = build_optimizer(args, student, total_steps)
    teacher_outputs, cache_key = make_teacher_outputs(args, teacher, teacher_layers, encoded["train"], tokenizer)
    del teacher  # with the cache, training runs without the teacher in memory

    state = resume_from(args, student, optimizer) or {
        "config": run_config(args), "step": 0, "epoch": 0, "batches_done": 0,
        "results": new_results(args, task, student, pairs, total_steps)}
    state["results"]["teacher_cache"] = cache_key
    train_loop(args, task, student, tokenizer, teacher_outputs, len(pairs), loader, dev_loaders,
               optimizer, scheduler, state)
    return state["results"]


def train_loop(args, task, student, tokenizer, teacher_outputs, num_pairs, loader, dev_loaders,
               optimizer, scheduler, state):
    results, total_steps = state["results"], state["results"]["total_steps"]
    metric_name = results["best_metric_name"]
    results_path = os.path.join(args.output_dir, "results.json")
    steps_per_epoch = len(loader)
    window = {"loss": 0.0, "ce": 0.0, "kd": 0.0, "pt": 0.0, "n": 0}
    tic = time.time()
    student.train()
    for epoch in range(state["epoch"], math.ceil(total_steps / steps_per_epoch)):
        skip = state["batches_done"] if epoch == state["epoch"] else 0
        loader.batch_sampler.set_epoch(epoch, skip)
        for batch_index, batch in enumerate(loader, start=skip):
            if state["step"] >= total_steps:
                break
            loss, parts = compute_loss(student, teacher_outputs, batch, num_pairs, args)
            # .item() is a sync point; cheap next to a BERT step, and it catches NaN before it is applied.
            values = {k: v.item() if v is not None else None for k, v in parts.items()}
            if not math.isfinite(loss.item()):
                raise TrainingError(f"non-finite loss at step {state['step'] + 1}: {loss.item()} "
                                    f"({format_parts(loss.item(), values)}); the last good checkpoint is kept: "
                                    f"{(checkpoint.list_checkpoints(args.output_dir) or ['none'])[0]}")
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.clear_grad()
            step = state["step"] = state["step"] + 1
            done_epoch = batch_index + 1 == steps_per_epoch
            state["epoch"], state["batches_done"] = (epoch + 1, 0) if done_epoch else (epoch, batch_index + 1)

            window["loss"] += loss.item()
            for k, v in values.items():
                window[k] += v or 0.0
            window["n"] += 1
            if step % args.logging_steps == 0 or step == total_steps:
                n = window["n"]
                shown = {k: window[k] / n if values[k] is not None else None for k in values}
                results["train_log"].append({"step": step, "lr": scheduler.get_lr(), "loss": window["loss"] / n,
                                             **shown})
                logger.info("step %d/%d | epoch %d | lr %.3e | %s | %.2f steps/s", step, total_steps, epoch,
                            scheduler.get_lr(), format_parts(window["loss"] / n, shown), n / (time.time() - tic))
                results["train_seconds"] += time.time() - tic
                window = dict.fromkeys(window, 0.0)
                window["n"] = 0
                tic = time.time()

            if step % args.eval_steps == 0 or step == total_steps:
                results["train_seconds"] += time.time() - tic
                evaluate_and_keep_best(args, task, student, tokenizer, dev_loaders, results, step, epoch)
                checkpoint.write_json(results, results_path)
                tic = time.time()
            if step % args.save_steps == 0 or step == total_steps:
                checkpoint.save_checkpoint(args.output_dir, step, student, optimizer, state)
                checkpoint.prune_checkpoints(args.output_dir, args.save_total_limit)
                reseed(args.seed, step)

    results["finished"] = True
    results["train_seconds"] = round(results["train_seconds"], 2)
    checkpoint.write_json(results, os.path.join(args.output_dir, "results.json"))
    logger.info("done: best %s %.4f at step %d; best_model in %s", metric_name, results["best_metric"],
                results["best_step"], os.path.join(args.output_dir, "best_model"))


def evaluate_and_keep_best(args, task, student, tokenizer, dev_loaders, results, step, epoch):
    metric_name = results["best_metric_name"]
    metrics = evaluate(student, dev_loaders, task)
    results["history"].append({"step": step, "epoch": epoch, **metrics})
    improved = results["best_metric"] is None or metrics[metric_name] > results["best_metric"]
    if improved:
        results.update(best_metric=metrics[metric_name], best_step=step, metrics=metrics)
        checkpoint.save_model_dir(student, tokenizer, os.path.join(args.output_dir, "best_model"))
    logger.info("eval step %d | %s | best %s %.4f at step %d%s", step,
                " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), metric_name,
                results["best_metric"], results["best_step"], " (saved best_model)" if improved else "")


class TrainingError(Exception):
    """Training cannot go on (non-finite loss); reported as one line, exit status 1."""


def main(argv=None):
    args = parse_args(argv)
    try:
        return do_train(args)
    except InputError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except (TrainingError, checkpoint.CheckpointError, OSError) as e:
        logger.error("error: %s", e)
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
