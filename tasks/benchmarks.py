"""The built-in tasks (GLUE and ChnSentiCorp): their registry, and their official files read by PaddleNLP.

Built-in tasks are parsed by PaddleNLP's own dataset builders (`load_dataset`), online or from
local official files (`--data_dir`), so a local run reads exactly what a download would give.
Local files are checked first, row by row, so a malformed file is reported with its line
instead of failing deep inside the builder.
"""
import os

from paddlenlp.datasets import load_dataset
from paddlenlp.datasets.glue import Glue

from errors import InputError
from tasks.objective import Classification, Regression
from tasks.table_reader import check_utf8
from tasks.task import Task


class BenchmarkFiles:
    """The reader of a built-in task: PaddleNLP's dataset builder, on a download or on --data_dir's official files."""

    def split_files(self, task, splits, data_dir):
        """{split: path} of the files a run reads; {} when they are downloaded."""
        return split_files(splits, data_dir) if data_dir is not None else {}

    def load_splits(self, task, splits, data_dir=None):
        return load_splits(task, splits, data_dir)

    def load_file(self, task, split, path):
        return load_file(task, split, path)

    def local_test_splits(self, task, data_dir):
        """The task's test splits whose official files are in data_dir (never downloaded: only screened)."""
        if data_dir is None:
            return ()
        return tuple(s for s in test_splits(task) if has_rows(task, s, split_file(data_dir, s)))


BENCHMARK_FILES = BenchmarkFiles()


def _glue(name, text_keys, metric="acc", dev_splits=("dev",), objective=None):
    objective = objective or Classification(Glue.BUILDER_CONFIGS[name]["labels"])
    return Task(name, "glue", name, text_keys, "labels", objective, metric, dev_splits, BENCHMARK_FILES)


PAIR = ("sentence1", "sentence2")
TASKS = {
    "sst-2": _glue("sst-2", ("sentence",)),
    "cola": _glue("cola", ("sentence",), metric="mcc"),
    "mrpc": _glue("mrpc", PAIR, metric="acc_f1"),
    "qqp": _glue("qqp", PAIR, metric="acc_f1"),
    "rte": _glue("rte", PAIR),
    "wnli": _glue("wnli", PAIR),
    "sts-b": _glue("sts-b", PAIR, metric="pearson_spearman", objective=Regression(0.0, 5.0)),
    "qnli": _glue("qnli", PAIR),
    "mnli": _glue("mnli", PAIR, dev_splits=("dev_matched", "dev_mismatched")),
    "chnsenticorp": Task("chnsenticorp", "chnsenticorp", None, ("text",), "label", Classification(("0", "1")), "acc",
                         ("dev",), BENCHMARK_FILES),
}

# ChnSentiCorp columns by split, as PaddleNLP's builder unpacks them (header line first).
CHNSENTICORP_COLUMNS = {"train": ("label", "text_a"), "dev": ("qid", "label", "text_a"), "test": ("qid", "text_a")}


def get_task(name):
    if name.lower() not in TASKS:
        raise InputError(f"--task_name {name!r} is not one of {', '.join(TASKS)}")
    return TASKS[name.lower()]


def test_splits(task):
    """The names of a built-in task's test splits (MNLI has two)."""
    if task.dataset == "glue":
        return tuple(s for s in Glue.BUILDER_CONFIGS[task.config]["splits"] if s.startswith("test"))
    return ("test",)


def split_file(data_dir, split):
    return os.path.join(data_dir, f"{split}.tsv")


def _row_layout(task, split):
    """(header lines to skip, columns a row needs, text columns, label column or None)."""
    if task.dataset == "glue":
        _, _, fields, skip = Glue.BUILDER_CONFIGS[task.config]["splits"][split]
        fields = list(fields)
        if split.startswith("test"):
            return skip, max(fields) + 1, fields, None
        return skip, max(fields) + 1, fields[:-1], fields[-1]
    columns = CHNSENTICORP_COLUMNS[split]
    label = columns.index("label") if "label" in columns else None
    return 1, len(columns), [columns.index("text_a")], label


def has_rows(task, split, path):
    """Whether `path` exists and holds a line after its header (an empty test.tsv has nothing to screen)."""
    if not os.path.isfile(path):
        return False
    skip = _row_layout(task, split)[0]
    with open(path, encoding="utf-8", errors="replace") as f:
        return any(line.strip() for lineno, line in enumerate(f, 1) if lineno > skip)


def check_split_file(task, split, path):
    """Raise InputError naming file and line for a row the builder would misread or crash on.

    Windows line endings and a UTF-8 byte order mark need nothing: the builders strip every row
    (so the "\\r") and skip the header line, where the mark stands.
    """
    check_utf8(path)
    skip, width, text_cols, label_col = _row_layout(task, split)
    exact = task.dataset == "chnsenticorp"  # its builder unpacks rows: extra columns break it
    rows = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if lineno <= skip:
                continue
            cols = line.strip().split("\t")
            if len(cols) < width or (exact and len(cols) != width):
                raise InputError(f"{path}:{lineno}: expected {width} tab-separated columns for "
                                 f"{task.name} {split}, found {len(cols)}")
            problem = task.objective.label_error(cols[label_col]) if label_col is not None else None
            if problem:
                raise InputError(f"{path}:{lineno}: {problem}")
            if all(not cols[c].strip() for c in text_cols):
                raise InputError(f"{path}:{lineno}: empty text")
            rows += 1
    if rows == 0:
        raise InputError(f"{path}: no examples")


def split_files(splits, data_dir):
    """{split: path} of the official files in `data_dir`, each checked to exist (not yet parsed)."""
    if not os.path.isdir(data_dir):
        raise InputError(f"--data_dir {data_dir}: no such folder")
    files = {}
    for split in splits:
        files[split] = split_file(data_dir, split)
        if not os.path.isfile(files[split]):
            raise InputError(f"--data_dir {data_dir}: missing {os.path.basename(files[split])} for the {split} split")
    return files


def load_splits(task, splits, data_dir=None):
    """{split: MapDataset of raw examples}, from `data_dir` if given, else PaddleNLP's download."""
    if data_dir is None:
        try:
            loaded = load_dataset(task.dataset, name=task.config, splits=list(splits))
        except Exception as e:  # network, hub or md5 failures all mean the same to the user
            raise InputError(f"could not download {task.name} ({type(e).__name__}: {str(e)[:200]}); "
                             f"give --data_dir with the official TSV files") from e
        return _by_split(splits, loaded)
    files = split_files(splits, data_dir)
    for split, path in files.items():
        check_split_file(task, split, path)
    loaded = load_dataset(task.dataset, name=task.config, data_files=list(files.values()), splits=list(splits))
    return _by_split(splits, loaded)


def load_file(task, split, path):
    """One local file in the layout of the task's `split` (e.g. a GLUE test.tsv), checked and parsed."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    check_split_file(task, split, path)
    return load_dataset(task.dataset, name=task.config, data_files=[path], splits=[split])


def _by_split(splits, loaded):
    """load_dataset returns the dataset itself for one split, a tuple for several."""
    return dict(zip(splits, loaded)) if len(splits) > 1 else {splits[0]: loaded}
