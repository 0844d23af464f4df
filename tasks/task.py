"""A task: its texts and labels, its objective and metric, and where its examples come from."""
from dataclasses import dataclass

from tasks.metrics import metric_names


@dataclass(frozen=True)
class Task:
    name: str  # lower case, as given to --task_name
    dataset: str  # load_dataset's path ("own": the user's files)
    config: str  # load_dataset's name (GLUE sub-task), or None
    text_keys: tuple  # one key for single sentences, two for pairs
    label_key: str
    objective: object  # objective.Classification (with the label strings) or objective.Regression
    metric: str  # "acc", "acc_f1", "mcc", "classification" (acc, macro F1, MCC) or "pearson_spearman"
    dev_splits: tuple
    reader: object  # where the examples come from: tasks.benchmarks.BenchmarkFiles, or tasks.own_files.OwnFiles
    best_metric: str = None  # --metric_for_best; None: the metric's usual one

    @property
    def labels(self):
        """Label strings as they stand in the files, in class-id order; () for a regression task."""
        return self.objective.labels

    @property
    def main_metric(self):
        """The metric best_model is chosen by."""
        return self.best_metric or metric_names(self.metric)[0]

    def describe(self):
        """What travels with a trained model (task.json, export.json), so that predict.py needs no task flags."""
        return {"task_name": self.name, "dataset": self.dataset, "text_columns": list(self.text_keys),
                "label_column": self.label_key, "metric": self.metric, **self.objective.describe()}
