"""A task made from the user's own files: its text and label columns, its labels, how it is judged.

    task = own_task(args)                        # --train_file, --dev_file, --text_columns, ...
    task.reader.load_splits(task, ("train", "dev"))

What a trained model needs to predict again (text columns, task type, labels, score range) is
`Task.describe()`, stored beside the model as task.json and in its export.json.
"""
import math
import os

from errors import InputError
from tasks.table_reader import read_table
from tasks.objective import Classification, Regression
from tasks.task import Task

# Column names tried, in this order, when --text_columns is not given.
DEFAULT_TEXT_COLUMNS = (("text",), ("sentence",), ("text_a", "text_b"), ("sentence1", "sentence2"))
FILE_FLAGS = {"train": "--train_file", "dev": "--dev_file", "test": "--test_file"}


class OwnFiles:
    """The reader of a task on own files (tasks.task.Task.reader): splits are the files given by flag."""

    def __init__(self, paths, tables=None):
        self.paths = dict(paths)  # {split: path}
        self.tables = dict(tables or {})  # {split: read_table's result} of files already read (train, by own_task)

    def split_files(self, task, splits, data_dir=None):
        for s in splits:
            if not os.path.isfile(self.paths[s]):
                raise InputError(f"{FILE_FLAGS[s]} {self.paths[s]}: no such file")
        return {s: self.paths[s] for s in splits}

    def load_splits(self, task, splits, data_dir=None):
        return {s: load_file(task, s, self.paths[s], table=self.tables.get(s)) for s in splits}

    def local_test_splits(self, task, data_dir=None):
        """("test",) with --test_file: its texts are screened out of the transfer set like dev's."""
        return ("test",) if "test" in self.paths else ()

    def load_file(self, task, split, path):
        """A file given to scripts/predict.py --input."""
        return load_file(task, split, path, "--input")


def own_task(args):
    """tasks.task.Task for --train_file/--dev_file (and --test_file), checked; InputError naming flag, file or line."""
    columns, rows = read_table(args.train_file, "--train_file")
    text_columns = choose_text_columns(columns, args.text_columns, args.train_file)
    label_column = args.label_column
    if label_column not in columns:
        raise InputError(f"--label_column {label_column}: no such column in {args.train_file} "
                         f"(columns: {', '.join(columns)})")
    if label_column in text_columns:
        raise InputError(f"--label_column {label_column} is also a text column (--text_columns)")
    values = [(line, row.get(label_column, "").strip()) for line, row in rows]
    make_objective, metric = TASK_TYPES[args.task_type]
    task_objective = make_objective(values, args.labels, args.train_file)
    name = args.task_name or os.path.splitext(os.path.basename(args.train_file))[0]
    paths = {s: getattr(args, f"{s}_file") for s in ("train", "dev", "test") if getattr(args, f"{s}_file")}
    task = Task(name, "own", None, tuple(text_columns), label_column, task_objective, metric, ("dev",),
                reader=OwnFiles(paths, {"train": (columns, rows)}), best_metric=args.metric_for_best)
    if args.test_file:  # checked now, predicted after training: a mistake in it must not cost a training run
        load_file(task, "test", args.test_file)
    return task


def choose_text_columns(columns, given, path):
    if given:
        wanted = [c.strip() for c in given.split(",")]
        if not 1 <= len(wanted) <= 2:
            raise InputError(f"--text_columns {given}: one column (single texts) or two (pairs), comma-separated")
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise InputError(f"--text_columns: no column {missing[0]!r} in {path} (columns: {', '.join(columns)})")
        return wanted
    for candidate in DEFAULT_TEXT_COLUMNS:
        if all(c in columns for c in candidate):
            return list(candidate)
    raise InputError(f"{path}: no text column found (looked for text, sentence, text_a+text_b, sentence1+sentence2); "
                     f"name them with --text_columns (columns: {', '.join(columns)})")


def classification(values, given_labels, path):
    """Labels as they stand in the file: the sorted set of train labels, or --labels in its order."""
    found = sorted({v for _, v in values})
    for line, v in values:
        if v == "":
            raise InputError(f"{path}:{line}: empty label")
    if given_labels:
        labels = [x.strip() for x in given_labels.split(",")]
        if len(set(labels)) != len(labels):
            raise InputError(f"--labels {given_labels}: a label is listed twice")
        for line, v in values:
            if v not in labels:
                raise InputError(f"{path}:{line}: label {v!r} is not one of --labels {given_labels}")
    else:
        labels = found
    if len(found) < 2:
        raise InputError(f"{path}: every example has the label {found[0]!r}; a classifier needs at least two classes "
                         f"(for scores use --task_type regression)")
    return Classification(labels)


def regression(values, given_labels, path):
    """Scores; predictions are clipped to the range of the train scores."""
    if given_labels:
        raise InputError("--labels names classes; a regression task (--task_type regression) has none")
    scores = [label_id(Regression(-math.inf, math.inf), v, path, line) for line, v in values]
    if min(scores) == max(scores):
        raise InputError(f"{path}: every example has the score {scores[0]:g}; there is nothing to learn")
    return Regression(min(scores), max(scores))


def load_file(task, split, path, flag=None, table=None):
    """[{text column: text, label column: class id or score}] of one file; labels only where the file has them.
    `table`: the file's read_table result when it was read already."""
    flag = flag or FILE_FLAGS[split]
    columns, rows = table or read_table(path, flag)
    missing = [c for c in task.text_keys if c not in columns]
    if missing:
        raise InputError(f"{flag} {path}: no text column {missing[0]!r} (columns: {', '.join(columns)})")
    has_labels = task.label_key in columns  # a test file may have them too: predict.py then prints the metrics
    if split in ("train", "dev") and not has_labels:
        raise InputError(f"{flag} {path}: no label column {task.label_key!r} (columns: {', '.join(columns)})")
    return [example(task, row, path, line, has_labels) for line, row in rows]


def example(task, row, path, line, has_labels):
    out = {}
    for c in task.text_keys:
        if c not in row:
            raise InputError(f"{path}:{line}: no field {c!r}")
        out[c] = row[c]
    if not any(out[c].strip() for c in task.text_keys):
        raise InputError(f"{path}:{line}: empty text")
    if has_labels:
        out[task.label_key] = label_id(task.objective, row.get(task.label_key, "").strip(), path, line)
    return out


def label_id(objective, raw, path, line):
    """The class id or score of a label as it stands in the file; InputError with FILE:LINE if it has none."""
    try:
        return objective.label_of(raw)
    except ValueError as e:
        raise InputError(f"{path}:{line}: {e}") from None


# --task_type: how its objective is made from the train labels, and the metrics it reports
TASK_TYPES = {"classification": (classification, "classification"), "regression": (regression, "pearson_spearman")}
