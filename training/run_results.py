"""A run's record, results.json: what it is, every evaluation, every logging window, the best so far.

A plain dict, so that checkpoints store it as JSON and a resumed run continues it, early stopping
included. These functions are the only ones that change it.
"""
from runtime.run_log import logger

# Flags that define what a run computes: a checkpoint made with other values is not resumed.
RUN_DEFINING_FLAGS = ("task_name", "model_name_or_path", "teacher_finetuned_model_path", "data_dir",
                      "num_layers_of_student_model", "student_init", "alpha", "T", "beta", "strategy",
                      "num_train_epochs", "max_steps", "batch_size", "gradient_accumulation_steps", "max_seq_length",
                      "learning_rate", "warmup_proportion", "weight_decay", "adam_epsilon", "max_grad_norm",
                      "group_by_length", "holdout_from_train", "max_train_examples", "seed", "train_file", "dev_file",
                      "text_columns", "label_column", "task_type", "labels", "metric_for_best", "transfer_file",
                      "transfer_text_columns", "labelled_share", "augment", "augment_transfer", "eval_overlap",
                      "student_model_name_or_path")


def run_config(args, task):
    """What a checkpoint must match to be resumed: the run-defining flags, and the task itself (its columns
    and labels: an edited --train_file may bring other classes)."""
    return {**{k: getattr(args, k) for k in RUN_DEFINING_FLAGS}, "task": task.describe()}


def config_defaults(default_of, task):
    """What checkpoints made before a run-defining key existed are taken to have had: the parser's defaults
    (`default_of(flag)`; the older versions behaved so), and for the task the one this run has."""
    return {**{k: default_of(k) for k in RUN_DEFINING_FLAGS}, "task": task.describe()}


def new_results(args, task, num_student_layers, pairs, total_steps, dev_splits):
    return {"task": task.name, "eval_on": list(dev_splits), "mode": args.mode,
            "strategy": args.strategy if args.mode == "pkd" else None,
            "alpha": args.alpha, "T": args.T, "beta": args.beta, "layer_pairs": pairs,
            "num_student_layers": num_student_layers, "seed": args.seed,
            "best_metric_name": task.main_metric, "best_metric": None, "best_step": None,
            "metrics": None, "history": [], "train_log": [], "train_seconds": 0.0, "total_steps": total_steps,
            "early_stopping_patience": args.early_stopping_patience, "evals_without_improvement": 0,
            "stopped_early_at": None, "teacher": args.teacher_finetuned_model_path, "teacher_layers": None,
            "teacher_metrics": None, "student_model": args.student_model_name_or_path, "finished": False}


def record_evaluation(results, step, epoch, metrics):
    """Add an evaluation to the history; True when it is a new best (ties keep the earlier one)."""
    results["history"].append({"step": step, "epoch": epoch, **metrics})
    value = metrics[results["best_metric_name"]]
    improved = results["best_metric"] is None or value > results["best_metric"]
    results["evals_without_improvement"] = 0 if improved else results.get("evals_without_improvement", 0) + 1
    if improved:
        results.update(best_metric=value, best_step=step, metrics=metrics)
    return improved


def should_stop_early(results, step, last):
    """--early_stopping_patience evaluations in a row without a new best (never at the last step); logs why."""
    patience, waited = results.get("early_stopping_patience") or 0, results.get("evals_without_improvement", 0)
    if not patience or last or waited < patience:
        return False
    logger.info("early stopping at step %d: %d evaluations without a better %s than %.4f (step %d)", step, waited,
                results["best_metric_name"], results["best_metric"], results["best_step"])
    return True


def record_window(results, step, lr, losses, seconds):
    """A logging window: its mean losses, and its seconds added to the training time."""
    results["train_seconds"] += seconds
    results["train_log"].append({"step": step, "lr": lr, **losses})


def finish(results):
    results["finished"] = True
    results["train_seconds"] = round(results["train_seconds"], 2)
