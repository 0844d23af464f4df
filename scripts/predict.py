"""Predict with an exported model (scripts/export_model.py) on the engine its export.json names.

    python scripts/predict.py --model_dir exported/SST-2 --input test.tsv --output SST-2.tsv
    python scripts/predict.py --model_dir exported/reviews --input new_reviews.csv
    echo "a gripping, funny film" | python scripts/predict.py --model_dir exported/SST-2

The task (text columns, label strings) travels in export.json; --task_name is needed only for
exports made before it did. --input takes, for a built-in task, a file in the official layout of
--split (default test; MNLI: test_matched), for a model trained on your own files a .csv, .tsv or
.jsonl with the same text columns. The output is `index<TAB>prediction` with the label strings
(the GLUE submission format); scores of a regression task are clipped to the range of its train labels.
Without --input, sentences are read from stdin, one per line (pairs: the two texts tab-separated).
When the input has labels (e.g. --split dev), the task's metrics are printed too.
Paddle exports run on paddle.inference, ONNX exports (fp32 or int8) on onnxruntime.
"""
import argparse
import sys

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)

import data
from tasks import benchmarks
from tasks import lookup
from deploy import inference
import modeling
from args import TASK_NAMES
from errors import InputError
from training.evaluation import write_predictions
from tasks.metrics import task_metrics


def stdin_examples(task, lines):
    examples = []
    for lineno, line in enumerate(lines, 1):
        texts = line.rstrip("\n").split("\t")
        if len(texts) != len(task.text_keys) or not all(t.strip() for t in texts):
            raise InputError(f"stdin line {lineno}: expected {len(task.text_keys)} non-empty tab-separated text(s)")
        examples.append(dict(zip(task.text_keys, texts)))
    if not examples:
        raise InputError("stdin: no sentences")
    return examples


def task_of(args):
    """--task_name, else the task export.json records (exports of models trained on own files always have it)."""
    if args.task_name:
        return benchmarks.get_task(args.task_name)
    info = inference.read_export(args.model_dir).get("task")
    if info is None:
        raise InputError(f"--model_dir {args.model_dir}: export.json names no task (an older export): "
                         f"give --task_name, or export again with scripts/export_model.py")
    return lookup.task_from_description(info)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="folder written by scripts/export_model.py")
    parser.add_argument("--task_name", type=str.lower, choices=TASK_NAMES, metavar="TASK",
                        help="a built-in task; needed only for exports without the task in export.json")
    parser.add_argument("--input", help="a built-in task's file in the official layout of --split, or a .csv, .tsv "
                                        "or .jsonl with the model's text columns; default: sentences from stdin")
    parser.add_argument("--split", default=None, help="layout of --input: test (default), dev, train, ...")
    parser.add_argument("--output", help="predictions file (default: stdout)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args(argv)
    try:
        task = task_of(args)
        split = args.split or ("test_matched" if task.name == "mnli" else "test")
        predictor = inference.create_predictor(args.model_dir, args.device)
        tokenizer = modeling.load_tokenizer(args.model_dir, "--model_dir")
        raw = task.reader.load_file(task, split, args.input) if args.input else stdin_examples(task, sys.stdin)
    except InputError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    encoded = [data.encode(task, tokenizer, args.max_seq_length)(raw[i], i) for i in range(len(raw))]
    logits = inference.predict_logits(predictor, encoded, data.collator(tokenizer), args.batch_size)
    write_predictions(args.output, task.objective.predictions(logits))
    if all("labels" in e for e in encoded):
        labels = [e["labels"] for e in encoded]
        sys.stderr.write(f"{split}: {task_metrics(task.metric, logits, labels)}\n")


if __name__ == "__main__":
    main()
