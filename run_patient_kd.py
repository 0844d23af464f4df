"""Train a BERT student by fine-tuning (FT), vanilla KD or Patient-KD, and keep the best model.

The teacher is fine-tuned with the same script: FT mode with a student as deep as the
pre-trained model (see scripts/finetune_teacher.sh).
"""
import cpu_env

# Before paddle is imported: threads, MKL code path, malloc (see cpu_env.py).
CPU_MATH = cpu_env.configure()

import contextlib  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import psutil  # noqa: E402
from paddlenlp.transformers import LinearDecayWithWarmup  # noqa: E402
from paddlenlp.utils.log import logger as paddlenlp_logger  # noqa: E402
from tqdm import tqdm  # noqa: E402

import data  # noqa: E402
import encoded_cache  # noqa: E402
import evaluation  # noqa: E402
import file_lock  # noqa: E402
import modeling  # noqa: E402
import paddle_compat  # noqa: E402
import teacher_cache  # noqa: E402
from args import InputError, parse_args  # noqa: E402
import checkpoint  # noqa: E402
from kd_loss import pkd_loss, stack_cls  # noqa: E402
from evaluation import model_inputs  # noqa: E402
from metrics import main_metric_name  # noqa: E402

logger = logging.getLogger("pkd")
paddlenlp_logger.set_level("WARNING")  # its per-file INFO lines would drown the training log


def setup_logging(output_dir):
    """Console and OUTPUT_DIR/train.log; without output_dir (ranks > 0), warnings on the console only."""
    logger.handlers.clear()
    logger.setLevel(logging.INFO if output_dir else logging.WARNING)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    handlers = [logging.StreamHandler(sys.stdout)]
    if output_dir:
        handlers.append(logging.FileHandler(os.path.join(output_dir, "train.log")))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def check_writable(path, flag):
    """Create `path` if needed and write a file into it; InputError naming the flag when that fails."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write_test.{os.getpid()}")  # one per process: ranks probe at once
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        raise InputError(f"{flag} {path}: not writable ({e.strerror})") from e


def uses_cache_dir(args):
    """The teacher's outputs are cached for KD and PKD, and the tokenised splits of --data_dir for every mode."""
    return args.data_dir is not None or (args.mode != "ft" and not args.no_teacher_cache)


def build_optimizer(args, model, total_steps):
    scheduler = LinearDecayWithWarmup(args.learning_rate, total_steps, args.warmup_proportion)
    # AdamW hands apply_decay_param_fun the internal names (linear_3.w_0), not the structured ones.
    decay = {p.name for n, p in model.named_parameters() if not any(k in n for k in ("bias", "norm"))}
    optimizer = paddle.optimizer.AdamW(
        learning_rate=scheduler, parameters=model.parameters(), weight_decay=args.weight_decay,
        epsilon=args.adam_epsilon, apply_decay_param_fun=lambda name: name in decay,
        grad_clip=paddle.nn.ClipGradByGlobalNorm(args.max_grad_norm))
    return optimizer, scheduler


def compute_loss(student, teacher_outputs, batch, num_pairs, args, task_objective):
    """Forward the student; teacher_outputs(batch) gives the teacher's (logits, [CLS] states) or is None."""
    out = student(**model_inputs(batch), output_hidden_states=args.beta > 0, return_dict=True)
    teacher_logits = teacher_cls = student_cls = None
    if teacher_outputs is not None:
        teacher_logits, teacher_cls = teacher_outputs(batch)
    if args.beta > 0:
        student_cls = stack_cls(out.hidden_states, range(1, num_pairs + 1))
    return pkd_loss(out.logits, teacher_logits, batch["labels"], student_cls, teacher_cls,
                    args.alpha, args.T, args.beta, task_objective.hard_loss, task_objective.soft_loss)


def format_parts(loss, parts):
    shown = " ".join(f"{k} {v:.4g}" for k, v in parts.items() if v is not None)
    return f"loss {loss:.4f} ({shown})"


def make_teacher_outputs(args, teacher, layers, encoded_train, tokenizer, world):
    """(batch -> teacher logits and [CLS] states, cache key): from the on-disk cache, or the live teacher."""
    if teacher is None:
        return None, None
    if args.no_teacher_cache:
        return (lambda batch: modeling.teacher_forward(teacher, batch, layers)), None
    loader = data.eval_loader(encoded_train, tokenizer, args.batch_size)  # length-sorted: little padding
    def cached():
        return teacher_cache.load_or_build(args.teacher_cache_dir, args.teacher_finetuned_model_path, teacher,
                                           encoded_train, loader, layers, logger)

    outputs = cached() if world.rank == 0 else None
    world.barrier()  # the other ranks read what rank 0 wrote
    return outputs or cached()


def new_results(args, task, student, pairs, total_steps, dev_splits):
    return {"task": task.name, "eval_on": list(dev_splits), "mode": args.mode,
            "strategy": args.strategy if args.mode == "pkd" else None,
            "alpha": args.alpha, "T": args.T, "beta": args.beta, "layer_pairs": pairs,
            "num_student_layers": student.bert.config.num_hidden_layers, "seed": args.seed,
            "best_metric_name": main_metric_name(task.metric), "best_metric": None, "best_step": None,
            "metrics": None, "history": [], "train_log": [], "train_seconds": 0.0, "total_steps": total_steps,
            "early_stopping_patience": args.early_stopping_patience, "evals_without_improvement": 0,
            "stopped_early_at": None, "teacher": args.teacher_finetuned_model_path, "teacher_layers": None,
            "teacher_metrics": None, "finished": False}


class World:
    """This process's place among data-parallel workers (one process: rank 0 of 1, collectives are no-ops)."""

    def __init__(self):
        self.size = paddle.distributed.get_world_size()
        self.rank = paddle.distributed.get_rank()
        if self.size > 1:
            paddle.distributed.init_parallel_env()

    def device(self, kind):
        """cpu, gpu, or with several processes this process's own GPU."""
        if kind == "gpu" and self.size > 1:
            return f"gpu:{paddle.distributed.ParallelEnv().dev_id}"
        return kind

    def barrier(self):
        if self.size > 1:
            paddle.distributed.barrier()

    def agree(self, flag):
        """Rank 0's decision (which only it can make: it alone evaluates), the same on every rank."""
        if self.size == 1:
            return flag
        t = paddle.to_tensor([int(flag)], dtype="int64")
        paddle.distributed.broadcast(t, src=0)
        return bool(t.item())

    def mean(self, values):
        """Mean over workers of a list of floats: the global batch's loss for logging."""
        if self.size == 1:
            return values
        t = paddle.to_tensor(np.asarray(values, dtype="float64"))
        paddle.distributed.all_reduce(t)
        return (t / self.size).numpy().tolist()


def load_data(args, task):
    """Raw splits: train (optionally cut to a fixed random subset, or with a slice held out for evaluation)
    and the evaluation splits."""
    raw = data.load_splits(task, ("train",) + task.dev_splits, args.data_dir)
    if args.holdout_from_train:
        raw = dict(zip(("train", "holdout"), data.hold_out(raw["train"], args.holdout_from_train)))
    if args.max_train_examples:
        raw["train"] = data.subsample(raw["train"], args.max_train_examples)
    return raw


def load_encoded(args, task, tokenizer):
    """({split: tokenised examples}, names of the evaluation splits); with --data_dir through the encoded-split
    cache, so that only the first run of a grid search tokenises."""
    dev_splits = ("holdout",) if args.holdout_from_train else task.dev_splits

    def encode():
        raw = load_data(args, task)
        return {s: data.encode_split(ds, task, tokenizer, args.max_seq_length) for s, ds in raw.items()}

    if args.data_dir is None:
        encoded = encode()
    else:
        files = data.split_files(("train",) + task.dev_splits, args.data_dir)
        key = encoded_cache.cache_key(task, files, tokenizer, args.max_seq_length, args.holdout_from_train,
                                      args.max_train_examples)
        encoded = encoded_cache.load_or_encode(args.teacher_cache_dir, key, ("train",) + dev_splits, encode, logger)
    if args.holdout_from_train:
        logger.info("evaluating on %d examples held out from train, not on the dev set", len(encoded["holdout"]))
    logger.info("train %d examples, %s", len(encoded["train"]), ", ".join(f"{s} {len(encoded[s])}" for s in dev_splits))
    return encoded, dev_splits


def make_loaders(args, encoded, dev_splits, tokenizer):
    """(train loader, {split: eval loader})."""
    loader = data.train_loader(encoded["train"], tokenizer, args.batch_size, args.seed, args.group_by_length,
                               args.gradient_accumulation_steps)
    return loader, {s: data.eval_loader(encoded[s], tokenizer, args.batch_size) for s in dev_splits}


def do_train(args):
    world = World()
    task = data.get_task(args.task_name)
    # Flags no run can use are refused before anything is loaded, cached or written.
    tokenizer = modeling.load_run_tokenizer(args)
    modeling.check_model_limits(args, tokenizer)
    if uses_cache_dir(args):
        check_writable(args.teacher_cache_dir, "--teacher_cache_dir")
    # One run per OUTPUT_DIR, claimed before anything is written to it; the ranks of one run share it: rank 0 holds it.
    with file_lock.output_dir_claimed(args.output_dir) if world.rank == 0 else contextlib.nullcontext() as created:
        try:
            return train_in_output_dir(args, world, task, tokenizer)
        except InputError:
            if created:  # bad input leaves no folder behind, only the error line
                shutil.rmtree(args.output_dir, ignore_errors=True)
            raise


def train_in_output_dir(args, world, task, tokenizer):
    check_writable(args.output_dir, "--output_dir")
    setup_logging(args.output_dir if world.rank == 0 else None)
    cpu_env.set_device(world.device(args.device))
    set_seed(args.seed)
    logger.info("mode %s | task %s | %d process(es) | %s | %s", args.mode, task.name, world.size,
                paddle_compat.build_name(), f"device {args.device}; {CPU_MATH}")
    for line in paddle_compat.gpu_arch_warnings() if args.device == "gpu" else ():
        logger.warning(line)
    logger.info("args %s", vars(args))
    if args.T_given and not task.objective.uses_temperature and args.mode != "ft":
        logger.info("--T %g is not used: %s is a regression task, distilled with the squared error between "
                    "student and teacher outputs", args.T, task.name)

    encoded, dev_splits = load_encoded(args, task, tokenizer)
    teacher, student, teacher_layers = modeling.build_models(args, task.objective.num_outputs)
    pairs = [[s, t] for s, t in zip(range(1, len(teacher_layers) + 1), teacher_layers)]
    logger.info("student: %d layers, %.1fM parameters%s", student.bert.config.num_hidden_layers,
                modeling.count_parameters(student) / 1e6,
                f"; PKD-{args.strategy} layer pairs [student, teacher] (1-based): {pairs}" if pairs else "")
    train = encoded["train"]
    loader, dev_loaders = make_loaders(args, encoded, dev_splits, tokenizer)

    steps_per_epoch = math.ceil(len(loader) / args.gradient_accumulation_steps)
    total_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * args.num_train_epochs
    logger.info("%d steps (%d per epoch) of %d x %d x %d examples (batch x processes x accumulation)", total_steps,
                steps_per_epoch, args.batch_size, world.size, args.gradient_accumulation_steps)
    optimizer, scheduler = build_optimizer(args, student, total_steps)
    teacher_metrics = check_teacher(teacher, dev_loaders, task) if teacher is not None and world.rank == 0 else None
    teacher_depth = teacher.bert.config.num_hidden_layers if teacher is not None else None
    teacher_outputs, cache_key = make_teacher_outputs(args, teacher, teacher_layers, train, tokenizer, world)
    del teacher  # with the cache, training runs without the teacher in memory

    state = checkpoint.resume_state(args.output_dir, run_config(args), student, optimizer, args.resume, logger)
    if state is not None:
        reseed(args.seed, state["step"])
    else:
        state = {"config": run_config(args), "step": 0, "epoch": 0, "batches_done": 0,
                 "results": new_results(args, task, student, pairs, total_steps, dev_splits)}
    state["results"].update(teacher_cache=cache_key, teacher_metrics=teacher_metrics, teacher_layers=teacher_depth)
    ctx = SimpleNamespace(args=args, task=task, world=world, student=student, tokenizer=tokenizer,
                          model=paddle.DataParallel(student) if world.size > 1 else student,
                          teacher_outputs=teacher_outputs, num_pairs=len(pairs), loader=loader,
                          dev_loaders=dev_loaders, optimizer=optimizer, scheduler=scheduler,
                          num_epochs=math.ceil(total_steps / steps_per_epoch),
                          scaler=paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if args.use_amp else None,
                          visualdl=visualdl_writer(args.logdir) if args.logdir and world.rank == 0 else None,
                          startup_logged=False)
    train_loop(ctx, state)
    return state["results"]


# Flags that define what a run computes: a checkpoint made with other values is not resumed.
RUN_DEFINING_FLAGS = ("task_name", "model_name_or_path", "teacher_finetuned_model_path", "data_dir",
                      "num_layers_of_student_model", "student_init", "alpha", "T", "beta", "strategy",
                      "num_train_epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "max_seq_length",
                      "learning_rate", "warmup_proportion", "weight_decay", "adam_epsilon", "max_grad_norm",
                      "group_by_length", "holdout_from_train", "max_train_examples", "seed")


def check_teacher(teacher, dev_loaders, task):
    """Log the teacher's metrics on the evaluation split (and a warning if it looks not fine-tuned)."""
    metrics, warning = evaluation.check_teacher(teacher, dev_loaders, task)
    logger.info("teacher on the evaluation split: %s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if warning:
        logger.warning(warning)
    return metrics


def run_config(args):
    return {k: getattr(args, k) for k in RUN_DEFINING_FLAGS}


def reseed(seed, step):
    """Dropout RNG derived from (seed, step) at every checkpoint: a resumed run draws the same masks."""
    paddle.seed((seed * 1_000_003 + step) % (2 ** 31))


def visualdl_writer(logdir):
    from visualdl import LogWriter

    return LogWriter(logdir=logdir)


def forward_backward(ctx, batch, state):
    """Loss of one (micro-)batch, backpropagated; refuses a non-finite loss before it touches the weights."""
    with paddle.amp.auto_cast(level="O1") if ctx.scaler is not None else contextlib.nullcontext():
        loss, parts = compute_loss(ctx.model, ctx.teacher_outputs, batch, ctx.num_pairs, ctx.args, ctx.task.objective)
    # .item() is a sync point; cheap next to a BERT step, and it catches NaN before it is applied.
    values = {"loss": loss.item(), **{k: v.item() if v is not None else None for k, v in parts.items()}}
    if not all(math.isfinite(v) for v in values.values() if v is not None):
        latest = (checkpoint.list_checkpoints(ctx.args.output_dir) or ["none"])[0]
        raise TrainingError(f"non-finite loss at step {state['step'] + 1}: "
                            f"{format_parts(values['loss'], values)}; the last good checkpoint is kept: {latest}")
    backward(loss / ctx.args.gradient_accumulation_steps, ctx.scaler)
    return values


def backward(loss, scaler):
    """Backpropagate; with mixed precision the loss is scaled so small float16 gradients do not vanish."""
    (scaler.scale(loss) if scaler is not None else loss).backward()


def apply_gradients(optimizer, scheduler, scaler):
    """One optimizer step; the scaler unscales first (so clipping sees true norms) and skips inf/NaN steps."""
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.clear_grad()


def train_loop(ctx, state):
    args, results = ctx.args, state["results"]
    accum, micro_per_epoch = args.gradient_accumulation_steps, len(ctx.loader)
    window = []
    progress = tqdm(total=results["total_steps"], initial=state["step"], unit="step", leave=False,
                    disable=ctx.world.rank != 0 or not sys.stderr.isatty())
    ctx.tic = time.time()
    ctx.model.train()
    for epoch in range(state["epoch"], ctx.num_epochs):
        if results.get("stopped_early_at") is not None:
            break
        skip = state["batches_done"] if epoch == state["epoch"] else 0
        ctx.loader.batch_sampler.set_epoch(epoch, skip, (results["total_steps"] - state["step"]) * accum)
        for batch_index, batch in enumerate(ctx.loader, start=skip):
            end_of_epoch = batch_index + 1 == micro_per_epoch
            apply = (batch_index + 1) % accum == 0 or end_of_epoch
            # Gradients are all-reduced only on the micro-batch that completes a step.
            with ctx.model.no_sync() if ctx.world.size > 1 and not apply else contextlib.nullcontext():
                window.append(forward_backward(ctx, batch, state))
            if not apply:
                continue
            apply_gradients(ctx.optimizer, ctx.scheduler, ctx.scaler)
            state["step"] += 1
            state["epoch"], state["batches_done"] = (epoch + 1, 0) if end_of_epoch else (epoch, batch_index + 1)
            progress.update(1)
            if after_step(ctx, state, window, epoch):
                window = []
            if results.get("stopped_early_at") is not None:
                break
    progress.close()
    if ctx.visualdl is not None:
        ctx.visualdl.close()
    results["finished"] = True
    results["train_seconds"] = round(results["train_seconds"], 2)
    if ctx.world.rank == 0:
        checkpoint.write_json(results, os.path.join(args.output_dir, "results.json"))
    logger.info("done: best %s %.4f at step %d; best_model in %s", results["best_metric_name"],
                results["best_metric"], results["best_step"], os.path.join(args.output_dir, "best_model"))


def log_startup_once(ctx):
    """Start-up time (process start to the end of its first step): what the encoded-split and teacher caches save."""
    if not ctx.startup_logged:
        ctx.startup_logged = True
        logger.info("first step done %.1f s after the process started", time.time() - psutil.Process().create_time())


def after_step(ctx, state, window, epoch):
    """Log, evaluate and checkpoint as their intervals fall due; True when the logging window was consumed."""
    log_startup_once(ctx)
    args, results, step = ctx.args, state["results"], state["step"]
    last = step == results["total_steps"]
    logged = False
    if step % args.logging_steps == 0 or last:
        log_window(ctx, results, window, epoch, step)
        logged = True
    stop = False
    if step % args.eval_steps == 0 or last:
        eval_start = time.time()
        if ctx.world.rank == 0:
            evaluate_and_keep_best(ctx, results, step, epoch)
        stop = ctx.world.agree(should_stop_early(args, results, step, last))
        if ctx.world.rank == 0:
            checkpoint.write_json(results, os.path.join(args.output_dir, "results.json"))
        ctx.tic += time.time() - eval_start  # evaluation time counts neither as training nor in steps/s
    if stop:
        results["stopped_early_at"] = step
    if step % args.save_steps == 0 or last or stop:
        if ctx.world.rank == 0:
            checkpoint.save_checkpoint(args.output_dir, step, ctx.student, ctx.optimizer, state)
            checkpoint.prune_checkpoints(args.output_dir, args.save_total_limit)
        reseed(args.seed, step)
    return logged


def should_stop_early(args, results, step, last):
    """--early_stopping_patience evaluations in a row without a new best (rank 0 knows; see World.agree)."""
    waited = results.get("evals_without_improvement", 0)
    if not args.early_stopping_patience or last or waited < args.early_stopping_patience:
        return False
    logger.info("early stopping at step %d: %d evaluations without a better %s than %.4f (step %d)", step, waited,
                results["best_metric_name"], results["best_metric"], results["best_step"])
    return True


def log_window(ctx, results, window, epoch, step):
    keys = ("loss", "ce", "kd", "pt")
    present = [k for k in keys if window[0][k] is not None]
    means = dict(zip(present, ctx.world.mean([float(np.mean([w[k] for w in window])) for k in present])))
    shown = {k: means.get(k) for k in keys[1:]}
    lr = ctx.scheduler.get_lr()
    elapsed = time.time() - ctx.tic
    results["train_seconds"] += elapsed
    ctx.tic = time.time()
    steps = max(1, len(window) // ctx.args.gradient_accumulation_steps)
    results["train_log"].append({"step": step, "lr": lr, "loss": means["loss"], **shown})
    logger.info("step %d/%d | epoch %d | lr %.3e | %s | %.2f steps/s", step, results["total_steps"], epoch, lr,
                format_parts(means["loss"], shown), steps / max(elapsed, 1e-9))
    if ctx.visualdl is not None:
        ctx.visualdl.add_scalar("train/lr", lr, step)
        for k, v in means.items():
            ctx.visualdl.add_scalar(f"train/{k}", v, step)


def evaluate_and_keep_best(ctx, results, step, epoch):
    metric_name = results["best_metric_name"]
    metrics = evaluation.evaluate(ctx.student, ctx.dev_loaders, ctx.task)
    results["history"].append({"step": step, "epoch": epoch, **metrics})
    improved = results["best_metric"] is None or metrics[metric_name] > results["best_metric"]
    results["evals_without_improvement"] = 0 if improved else results.get("evals_without_improvement", 0) + 1
    if improved:
        results.update(best_metric=metrics[metric_name], best_step=step, metrics=metrics)
        checkpoint.save_model_dir(ctx.student, ctx.tokenizer, os.path.join(ctx.args.output_dir, "best_model"))
    if ctx.visualdl is not None:
        for k, v in metrics.items():
            ctx.visualdl.add_scalar(f"dev/{k}", v, step)
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
