"""Which task a run or a saved model means: a built-in one by name, or one made from the user's files."""
import dataclasses

from errors import InputError
from tasks import objective
from tasks.benchmarks import TASKS, get_task
from tasks.metrics import metric_names
from tasks.own_files import OwnFiles, own_task
from tasks.task import Task


def task_of(args):
    """The run's task: a built-in one (--task_name), or one made from --train_file and --dev_file."""
    if args.train_file:
        task = own_task(args)
    else:
        task = dataclasses.replace(get_task(args.task_name), best_metric=args.metric_for_best)
    if task.best_metric and task.best_metric not in metric_names(task.metric):
        raise InputError(f"--metric_for_best {task.best_metric}: {task.name} computes "
                         f"{', '.join(metric_names(task.metric))}")
    return task


def task_from_description(d):
    """The task a model was trained on, from Task.describe()'s dict."""
    if d.get("dataset") != "own" and d.get("task_name") in TASKS:
        return TASKS[d["task_name"]]
    return Task(d["task_name"], "own", None, tuple(d["text_columns"]), d["label_column"],
                objective.from_description(d), d["metric"], ("dev",), reader=OwnFiles({}))
