"""Each task's dev metrics, computed once over the whole split with paddle/paddlenlp metric classes."""
import numpy as np
import paddle
from paddle.metric import Accuracy
from paddlenlp.metrics import AccuracyAndF1, Mcc


def task_metrics(metric, logits, labels):
    """{"acc": ...} / {"acc", "precision", "recall", "f1", "acc_and_f1"} / {"mcc": ...}.

    logits: [n, classes] numpy float; labels: [n] numpy int.
    """
    logits = paddle.to_tensor(np.asarray(logits, dtype="float32"))
    labels = paddle.to_tensor(np.asarray(labels, dtype="int64").reshape([-1, 1]))
    if metric == "acc":
        m = Accuracy()
        m.update(m.compute(logits, labels))
        return {"acc": float(m.accumulate())}
    if metric == "acc_f1":
        m = AccuracyAndF1()
        m.update(m.compute(logits, labels))
        acc, precision, recall, f1, mean = m.accumulate()
        return {"acc": float(acc), "precision": float(precision), "recall": float(recall),
                "f1": float(f1), "acc_and_f1": float(mean)}
    if metric == "mcc":
        m = Mcc()
        m.update(m.compute(logits, labels))
        return {"mcc": float(m.accumulate()[0])}
    raise ValueError(f"unknown metric {metric!r}")


def main_metric_name(metric):
    """The number best_model is chosen by: Matthews correlation for CoLA, accuracy elsewhere."""
    return "mcc" if metric == "mcc" else "acc"
