"""Predicting over a whole split, the task's metrics, and the check that a teacher was fine-tuned."""
import sys

import numpy as np
import paddle
from tqdm import tqdm

import data
from tasks.own_files import load_file
from runtime.run_log import logger
from tasks import objective
from tasks.metrics import looks_untrained, task_metrics


def model_inputs(batch):
    return dict(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"])


@paddle.no_grad()
def predict(model, loader):
    """Outputs [n, classes] (regression: [n, 1]) and labels [n] over a whole split, in input order.

    The model is put in eval mode and left in the mode it had (a frozen teacher stays in eval mode).
    """
    was_training = model.training
    model.eval()
    logits, labels, idx = [], [], []
    for batch in tqdm(loader, desc="eval", unit="batch", leave=False, disable=not sys.stderr.isatty()):
        logits.append(model(**model_inputs(batch)).numpy())
        if "labels" in batch:  # a test file has none
            labels.append(batch["labels"].numpy().reshape(-1))
        idx.append(batch["idx"].numpy().reshape(-1))
    if was_training:
        model.train()
    order = np.argsort(np.concatenate(idx))
    return np.concatenate(logits)[order], np.concatenate(labels)[order] if labels else None


def evaluate(model, dev_loaders, task):
    """All dev metrics plus the mean hard loss (CE, or MSE for regression); MNLI's second split is
    reported with an `mm_` prefix."""
    results = {}
    for i, (split, loader) in enumerate(dev_loaders.items()):
        logits, labels = predict(model, loader)
        metrics = task_metrics(task.metric, logits, labels)
        metrics["loss"] = objective.mean_loss(task.objective, logits, labels)
        prefix = "" if i == 0 else "mm_"
        results.update({prefix + k: v for k, v in metrics.items()})
    return results


def check_teacher(teacher, dev_loaders, task):
    """(the teacher's metrics on the evaluation split, a warning line if it looks not fine-tuned, else None).

    The most common failure of distillation runs: a teacher that was never fine-tuned on the task
    trains a poor student without any error.
    """
    loader = next(iter(dev_loaders.values()))
    logits, labels = predict(teacher, loader)
    metrics = task_metrics(task.metric, logits, labels)
    name = task.main_metric
    if not looks_untrained(task.metric, metrics, labels, task.objective.num_outputs, name):
        return metrics, None
    return metrics, (f"warning: the teacher does not look fine-tuned on {task.name}: {name} {metrics[name]:.4f} "
                     f"on the evaluation split is no better than a model that learned nothing; fine-tune it first "
                     f"(scripts/finetune_teacher.sh) or check --teacher_finetuned_model_path")


def log_teacher_check(teacher, dev_loaders, task):
    """check_teacher, logged: the teacher's metrics on the evaluation split, and the warning if there is one."""
    metrics, warning = check_teacher(teacher, dev_loaders, task)
    logger.info("teacher on the evaluation split: %s", " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    if warning:
        logger.warning(warning)
    return metrics


def write_predictions(path, predictions):
    """index<TAB>prediction, the GLUE submission format: label strings, or scores clipped to the task's range."""
    out = open(path, "w", encoding="utf-8") if path else sys.stdout
    out.write("index\tprediction\n")
    for i, p in enumerate(predictions):
        out.write(f"{i}\t{p}\n")
    if path:
        out.close()


def predict_test_file(model, task, test_file, tokenizer, max_seq_length, batch_size, out_path):
    """--test_file, predicted by `model` (the best one) into out_path."""
    encoded = data.encode_split(load_file(task, "test", test_file), task, tokenizer, max_seq_length)
    outputs, _ = predict(model, data.eval_loader(encoded, tokenizer, batch_size))
    write_predictions(out_path, task.objective.predictions(outputs))
    logger.info("predictions for --test_file %s written to %s", test_file, out_path)
