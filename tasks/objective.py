"""Classification or regression: what a task's outputs mean, how they are trained, judged and written.

A property of the task (tasks.task.Task.objective), so the training loop, the metrics and the predictor
never ask which task they run.
"""
import numpy as np

import kd_loss


class Classification:
    """Outputs are one logit per class; labels are class ids; predictions are the label strings."""

    kind = "classification"
    label_dtype = "int64"
    uses_temperature = True
    hard_loss = staticmethod(kd_loss.ce_loss)
    soft_loss = staticmethod(kd_loss.kd_loss)

    def __init__(self, labels):
        self.labels = tuple(labels)  # as they stand in the files, in class-id order

    @property
    def num_outputs(self):
        return len(self.labels)

    def label_error(self, raw):
        """Why a label column value is unusable (None if fine)."""
        return None if raw in self.labels else f"label {raw!r} is not one of {list(self.labels)}"

    def label_value(self, raw):
        """The builder's label (already a class id) as training uses it."""
        return int(raw)

    def label_of(self, text):
        """The class id of a label string of an own file; ValueError saying why not."""
        if text not in self.labels:
            raise ValueError(f"label {text!r} is not one of the train labels {list(self.labels)}")
        return self.labels.index(text)

    def describe(self):
        return {"task_type": self.kind, "labels": list(self.labels)}

    def predictions(self, outputs):
        """Submission strings for outputs [n, classes]."""
        return [self.labels[i] for i in np.asarray(outputs).argmax(-1)]


class Regression:
    """One output, a score in [low, high] (STS-B: 0 to 5); predictions are scores clipped to that range."""

    kind = "regression"
    label_dtype = "float32"
    uses_temperature = False
    num_outputs = 1
    hard_loss = staticmethod(kd_loss.mse_loss)
    soft_loss = staticmethod(kd_loss.mse_kd_loss)

    def __init__(self, low, high):
        self.low, self.high = low, high
        self.labels = ()

    def label_error(self, raw):
        try:
            value = float(raw)
        except ValueError:
            value = None
        if value is None or not self.low <= value <= self.high:
            return f"score {raw!r} is not a number in [{self.low:g}, {self.high:g}]"
        return None

    def label_value(self, raw):
        return float(raw)

    def label_of(self, text):
        """The score of a label string of an own file (any finite number); ValueError saying why not."""
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise ValueError(f"label {text!r} is not a number (--task_type regression)")
        return value

    def describe(self):
        return {"task_type": self.kind, "labels": [], "range": [self.low, self.high]}

    def predictions(self, outputs):
        return [f"{v:.3f}" for v in np.clip(np.asarray(outputs, dtype=np.float64)[:, 0], self.low, self.high)]


def from_description(d):
    """The objective describe() wrote (task.json, export.json)."""
    return Regression(*d["range"]) if d["task_type"] == "regression" else Classification(d["labels"])


def mean_loss(objective, outputs, labels):
    """The hard loss over a whole split, from numpy outputs [n, k] and labels [n] (for evaluation logs)."""
    import paddle

    labels = np.asarray(labels, dtype=objective.label_dtype)
    return float(objective.hard_loss(paddle.to_tensor(np.asarray(outputs, dtype="float32")),
                                     paddle.to_tensor(labels)).item())
