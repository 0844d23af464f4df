"""Train a BERT student by fine-tuning (FT), vanilla KD or Patient-KD, and keep the best model.

The teacher is fine-tuned with the same script: FT mode with a student as deep as the
pre-trained model (see scripts/finetune_teacher.sh).
"""
from runtime.cpu_first import CPU_SETTINGS  # first: Paddle reads these settings when it loads

import contextlib
import math
import os
import shutil
import sys
import time

import numpy as np
import paddle
from paddlenlp.transformers import LinearDecayWithWarmup
from tqdm import tqdm

from tasks import lookup
import modeling
from args import build_parser, flag_values, parse_args
from errors import CheckpointError, InputError, TrainingError
from kd_loss import pkd_loss
from runtime import checkpoint, cpu_env, file_lock, paddle_compat
from runtime.run_log import ScalarLog, log_startup_time, logger, setup_logging
from runtime.seeding import reseed, set_seed
from runtime.distributed import World
from training import evaluation, inputs, run_results
from training.run import Run
from training.evaluation import model_inputs


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
    """Forward the student (or modeling.StudentWithProjection); teacher_outputs(batch) gives the teacher's
    (logits, [CLS] states) or is None."""
    out = student(**model_inputs(batch), output_hidden_states=args.beta > 0, return_dict=True)
    teacher_logits = teacher_cls = student_cls = None
    if teacher_outputs is not None:
        teacher_logits, teacher_cls = teacher_outputs(batch)
    if args.beta > 0:
        student_cls = modeling.pt_states(out, num_pairs)
    return pkd_loss(out.logits, teacher_logits, batch["labels"], student_cls, teacher_cls,
                    args.alpha, args.T, args.beta, task_objective.hard_loss, task_objective.soft_loss,
                    batch.get("labelled"))


def format_parts(loss, parts):
    shown = " ".join(f"{k} {v:.4g}" for k, v in parts.items() if v is not None)
    return f"loss {loss:.4f} ({shown})"


def main(argv=None):
    args = parse_args(argv)
    try:
        return train(args)
    except InputError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except (TrainingError, CheckpointError, OSError) as e:
        logger.error("error: %s", e)
        sys.stderr.write(f"error: {e}\n")
        sys.exit(1)


def train(args):
    world = World()
    task = lookup.task_of(args)
    # Flags no run can use are refused before anything is loaded, cached or written.
    tokenizer = modeling.load_run_tokenizer(args)
    modeling.check_model_limits(args, tokenizer)
    modeling.check_student_vocabulary(args, tokenizer)
    if modeling.teacher_needed(args):
        modeling.check_teacher_labels(args.teacher_finetuned_model_path, task.labels)
    if inputs.uses_cache_dir(args):
        file_lock.check_writable(args.teacher_cache_dir, "--teacher_cache_dir")
    # One run per OUTPUT_DIR, claimed before anything is written to it; the ranks of one run share it: rank 0 holds it.
    with file_lock.output_dir_claimed(args.output_dir) if world.rank == 0 else contextlib.nullcontext() as created:
        try:
            return train_in_output_dir(args, world, task, tokenizer)
        except InputError:
            if created:  # bad input leaves no folder behind, only the error line
                shutil.rmtree(args.output_dir, ignore_errors=True)
            raise


def train_in_output_dir(args, world, task, tokenizer):
    file_lock.check_writable(args.output_dir, "--output_dir")
    setup_logging(args.output_dir if world.rank == 0 else None)
    cpu_env.set_device(world.device(args.device))
    set_seed(args.seed)
    log_start(args, world, task)

    encoded, dev_splits = inputs.load_encoded(args, task, tokenizer)
    unlabelled, unlabelled_counts = inputs.load_unlabelled(args, task, tokenizer, len(encoded["train"]),
                                                           writes=world.rank == 0)
    teacher, student, teacher_layers = modeling.build_models(args, task.objective.num_outputs)
    pairs = [[s, t] for s, t in zip(range(1, len(teacher_layers) + 1), teacher_layers)]
    logger.info("student: %s, %d layers, %.1fM parameters%s", student.config.model_type, modeling.depth(student),
                modeling.count_parameters(student) / 1e6,
                f"; PKD-{args.strategy} layer pairs [student, teacher] (1-based): {pairs}" if pairs else "")
    trained, projection = modeling.trained_model(student, teacher, teacher_layers)
    if projection is not None:
        logger.info("PT across widths: student [CLS] states (%d) projected to the teacher's (%d), one learned "
                    "linear map per layer pair, %d parameters", modeling.width(student), modeling.width(teacher),
                    modeling.count_parameters(projection))
    loader, dev_loaders = inputs.make_loaders(args, encoded, dev_splits, tokenizer, unlabelled)
    steps_per_epoch = math.ceil(len(loader) / args.gradient_accumulation_steps)
    total_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * args.num_train_epochs
    logger.info("%d steps (%d per epoch) of %d x %d x %d examples (batch x processes x accumulation)", total_steps,
                steps_per_epoch, args.batch_size, world.size, args.gradient_accumulation_steps)
    optimizer, scheduler = build_optimizer(args, trained, total_steps)

    checked = teacher is not None and world.rank == 0  # only rank 0 evaluates
    teacher_metrics = evaluation.log_teacher_check(teacher, dev_loaders, task) if checked else None
    teacher_depth = modeling.depth(teacher) if teacher is not None else None
    teacher_outputs, cache_key = inputs.make_teacher_outputs(args, teacher, teacher_layers,
                                                             encoded["train"] + unlabelled, tokenizer, world)
    del teacher  # with the cache, training runs without the teacher in memory

    state = start_or_resume(args, task, trained, modeling.depth(student), optimizer, pairs, total_steps, dev_splits)
    state["results"].update(teacher_cache=cache_key, teacher_metrics=teacher_metrics, teacher_layers=teacher_depth,
                            early_stopping_patience=args.early_stopping_patience, **unlabelled_counts)
    run = Run(args=args, task=task, world=world, student=student, trained=trained,
              tokenizer=tokenizer, model=paddle.DataParallel(trained) if world.size > 1 else trained,
              teacher_outputs=teacher_outputs, num_pairs=len(pairs), loader=loader, dev_loaders=dev_loaders,
              optimizer=optimizer, scheduler=scheduler, num_epochs=math.ceil(total_steps / steps_per_epoch),
              scaler=paddle.amp.GradScaler(init_loss_scaling=2.0 ** 15) if args.use_amp else None,
              scalars=ScalarLog(args.logdir if world.rank == 0 else None))
    train_loop(run, state)
    if args.test_file and world.rank == 0:
        best = modeling.load_classifier(os.path.join(args.output_dir, "best_model"), "--output_dir")
        evaluation.predict_test_file(best, task, args.test_file, tokenizer, args.max_seq_length, args.batch_size,
                                     os.path.join(args.output_dir, "test_predictions.tsv"))
    # The ranks leave together, so none closes its connection to rank 0's rendezvous store while rank 0 still
    # writes (docs/reliability.md: Paddle's libuv store aborted on exactly that).
    world.barrier()
    return state["results"]


def log_start(args, world, task):
    """What runs, where, with which settings: the first lines of train.log."""
    logger.info("mode %s | task %s | %d process(es) | %s | device %s; %s", args.mode, task.name, world.size,
                paddle_compat.build_name(), args.device, CPU_SETTINGS)
    for line in paddle_compat.gpu_arch_warnings() if args.device == "gpu" else ():
        logger.warning(line)
    logger.info("args %s", flag_values(args))
    if args.T_given and not task.objective.uses_temperature and args.mode != "ft":
        logger.info("--T %g is not used: %s is a regression task, distilled with the squared error between "
                    "student and teacher outputs", args.T, task.name)


def start_or_resume(args, task, trained, student_layers, optimizer, pairs, total_steps, dev_splits):
    """The loop's state: from OUTPUT_DIR's newest checkpoint of the same flags (weights and optimizer restored
    into `trained`, the student and any projection, and `optimizer`), else a fresh one."""
    config = run_results.run_config(args, task)
    state = checkpoint.resume_state(args.output_dir, config, trained, optimizer, args.resume, logger,
                                    run_results.config_defaults(build_parser().get_default, task))
    if state is not None:
        reseed(args.seed, state["step"])
        return state
    results = run_results.new_results(args, task, student_layers, pairs, total_steps, dev_splits)
    return {"config": config, "step": 0, "epoch": 0, "batches_done": 0, "results": results}


def train_loop(run, state):
    args, results = run.args, state["results"]
    accum, micro_per_epoch = args.gradient_accumulation_steps, len(run.loader)
    window, first_step = [], True
    progress = tqdm(total=results["total_steps"], initial=state["step"], unit="step", leave=False,
                    disable=run.world.rank != 0 or not sys.stderr.isatty())
    run.tic = time.time()
    run.model.train()
    for epoch in range(state["epoch"], run.num_epochs):
        if results.get("stopped_early_at") is not None:
            break
        skip = state["batches_done"] if epoch == state["epoch"] else 0
        run.loader.batch_sampler.set_epoch(epoch, skip, (results["total_steps"] - state["step"]) * accum)
        for batch_index, batch in enumerate(run.loader, start=skip):
            end_of_epoch = batch_index + 1 == micro_per_epoch
            apply = (batch_index + 1) % accum == 0 or end_of_epoch
            # Gradients are all-reduced only on the micro-batch that completes a step.
            with run.model.no_sync() if run.world.size > 1 and not apply else contextlib.nullcontext():
                window.append(forward_backward(run, batch, state["step"]))
            if not apply:
                continue
            apply_gradients(run.optimizer, run.scheduler, run.scaler)
            state["step"] += 1
            state["epoch"], state["batches_done"] = (epoch + 1, 0) if end_of_epoch else (epoch, batch_index + 1)
            progress.update(1)
            if first_step:
                log_startup_time()
                first_step = False
            if after_step(run, state, window, epoch):
                window = []
            if results.get("stopped_early_at") is not None:
                break
    progress.close()
    run.scalars.close()
    run_results.finish(results)
    if run.world.rank == 0:
        checkpoint.write_json(results, os.path.join(args.output_dir, "results.json"))
    logger.info("done: best %s %.4f at step %d; best_model in %s", results["best_metric_name"],
                results["best_metric"], results["best_step"], os.path.join(args.output_dir, "best_model"))


def forward_backward(run, batch, step):
    """Loss of one (micro-)batch, backpropagated; refuses a non-finite loss before it touches the weights."""
    with paddle.amp.auto_cast(level="O1") if run.scaler is not None else contextlib.nullcontext():
        loss, parts = compute_loss(run.model, run.teacher_outputs, batch, run.num_pairs, run.args, run.task.objective)
    # .item() is a sync point; cheap next to a BERT step, and it catches NaN before it is applied.
    values = {"loss": loss.item(), **{k: v.item() if v is not None else None for k, v in parts.items()}}
    if not all(math.isfinite(v) for v in values.values() if v is not None):
        latest = (checkpoint.list_checkpoints(run.args.output_dir) or ["none"])[0]
        raise TrainingError(f"non-finite loss at step {step + 1}: "
                            f"{format_parts(values['loss'], values)}; the last good checkpoint is kept: {latest}")
    backward(loss / run.args.gradient_accumulation_steps, run.scaler)
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


def after_step(run, state, window, epoch):
    """Log, evaluate and checkpoint as their intervals fall due; True when the logging window was consumed."""
    args, results, step = run.args, state["results"], state["step"]
    last = step == results["total_steps"]
    logged = step % args.logging_steps == 0 or last
    if logged:
        log_window(run, results, window, epoch, step)
    stop = False
    if step % args.eval_steps == 0 or last:
        eval_start = time.time()
        if run.world.rank == 0:
            evaluate_and_keep_best(run, results, step, epoch)
        stop = run.world.agree(run.world.rank == 0 and run_results.should_stop_early(results, step, last))
        if run.world.rank == 0:
            checkpoint.write_json(results, os.path.join(args.output_dir, "results.json"))
        run.tic += time.time() - eval_start  # evaluation time counts neither as training nor in steps/s
    if stop:
        results["stopped_early_at"] = step
    if step % args.save_steps == 0 or last or stop:
        if run.world.rank == 0:
            checkpoint.save_checkpoint(args.output_dir, step, run.trained, run.optimizer, state)
            checkpoint.prune_checkpoints(args.output_dir, args.save_total_limit)
        reseed(args.seed, step)
    return logged


def log_window(run, results, window, epoch, step):
    keys = ("loss", "ce", "kd", "pt")
    present = [k for k in keys if window[0][k] is not None]
    means = dict(zip(present, run.world.mean([float(np.mean([w[k] for w in window])) for k in present])))
    shown = {k: means.get(k) for k in keys[1:]}
    lr = run.scheduler.get_lr()
    elapsed = time.time() - run.tic
    run.tic = time.time()
    run_results.record_window(results, step, lr, {"loss": means["loss"], **shown}, elapsed)
    steps = max(1, len(window) // run.args.gradient_accumulation_steps)
    logger.info("step %d/%d | epoch %d | lr %.3e | %s | %.2f steps/s", step, results["total_steps"], epoch, lr,
                format_parts(means["loss"], shown), steps / max(elapsed, 1e-9))
    run.scalars.add("train", {"lr": lr, **means}, step)


def evaluate_and_keep_best(run, results, step, epoch):
    metrics = evaluation.evaluate(run.student, run.dev_loaders, run.task)
    improved = run_results.record_evaluation(results, step, epoch, metrics)
    if improved:
        checkpoint.save_model_dir(run.student, run.tokenizer, os.path.join(run.args.output_dir, "best_model"),
                                  run.task.describe())
    run.scalars.add("dev", metrics, step)
    logger.info("eval step %d | %s | best %s %.4f at step %d%s", step,
                " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), results["best_metric_name"],
                results["best_metric"], results["best_step"], " (saved best_model)" if improved else "")


if __name__ == "__main__":
    main()
