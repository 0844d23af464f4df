"""Each task's dev metrics, computed once over the whole split with paddle/paddlenlp metric classes."""
import numpy as np
import paddle
from paddle.metric import Accuracy
from paddlenlp.metrics import AccuracyAndF1, Mcc, PearsonAndSpearman

# The names each kind of metric computes; the first one chooses best_model unless --metric_for_best says otherwise.
METRIC_NAMES = {"acc": ("acc",), "acc_f1": ("acc", "precision", "recall", "f1", "acc_and_f1"), "mcc": ("mcc",),
                "classification": ("acc", "macro_f1", "mcc"),
                "pearson_spearman": ("pearson_and_spearman", "pearson", "spearman")}


def metric_names(metric):
    return METRIC_NAMES[metric]


def _as_tensors(logits, labels):
    return (paddle.to_tensor(np.asarray(logits, dtype="float32")),
            paddle.to_tensor(np.asarray(labels, dtype="int64").reshape([-1, 1])))


def _accuracy(logits, labels):
    m = Accuracy()
    m.update(m.compute(*_as_tensors(logits, labels)))
    return {"acc": float(m.accumulate())}


def _accuracy_and_f1(logits, labels):
    """Binary F1 of class 1 (QQP, MRPC), as GLUE reports it."""
    m = AccuracyAndF1()
    m.update(m.compute(*_as_tensors(logits, labels)))
    acc, precision, recall, f1, mean = m.accumulate()
    return {"acc": float(acc), "precision": float(precision), "recall": float(recall), "f1": float(f1),
            "acc_and_f1": float(mean)}


def _mcc(logits, labels):
    m = Mcc()
    m.update(m.compute(*_as_tensors(logits, labels)))
    return {"mcc": float(m.accumulate()[0])}


def _pearson_spearman(outputs, labels):
    m = PearsonAndSpearman()
    m.update((np.asarray(outputs, dtype="float64").reshape(-1), np.asarray(labels, dtype="float64").reshape(-1)))
    pearson, spearman, mean = m.accumulate()
    return {"pearson": float(pearson), "spearman": float(spearman), "pearson_and_spearman": float(mean)}


def _classification(logits, labels):
    """Own classification tasks: accuracy, macro-averaged F1 (every class counts the same, however rare)
    and Matthews correlation, by scikit-learn."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef  # only own tasks pay for the import

    predicted = np.asarray(logits).argmax(-1)
    labels = np.asarray(labels, dtype="int64").reshape(-1)
    classes = list(range(np.asarray(logits).shape[-1]))
    return {"acc": float(accuracy_score(labels, predicted)),
            "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
            "mcc": float(matthews_corrcoef(labels, predicted))}


METRIC_FUNCTIONS = {"acc": _accuracy, "acc_f1": _accuracy_and_f1, "mcc": _mcc, "classification": _classification,
                    "pearson_spearman": _pearson_spearman}


def task_metrics(metric, logits, labels):
    """The metrics of METRIC_NAMES[metric] over a whole split (pearson_and_spearman is the mean of the two).

    logits: [n, classes] numpy float (regression: [n, 1]); labels: [n] numpy int (regression: float).
    """
    return METRIC_FUNCTIONS[metric](logits, labels)


def main_metric_name(metric):
    """The number best_model is chosen by unless --metric_for_best says otherwise: Matthews correlation for
    CoLA, the mean of Pearson and Spearman for STS-B, accuracy elsewhere."""
    return METRIC_NAMES[metric][0]


def looks_untrained(metric, metrics, labels, num_outputs, name=None):
    """True if `metrics` are no better than a model that learned nothing: one that always predicts the
    most frequent class (classification), or a Pearson correlation below 0.1 (regression)."""
    if metric == "pearson_spearman":
        return not metrics["pearson"] >= 0.1  # NaN (constant outputs) counts as untrained
    labels = np.asarray(labels, dtype="int64").reshape(-1)
    constant = np.zeros((len(labels), num_outputs), dtype="float32")
    constant[:, np.bincount(labels, minlength=num_outputs).argmax()] = 1.0
    name = name or main_metric_name(metric)
    baseline = task_metrics(metric, constant, labels)[name]
    return not metrics[name] > (0.0 if np.isnan(baseline) else baseline) + 1e-9
