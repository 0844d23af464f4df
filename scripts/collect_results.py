"""Collect many runs' results.json into the reference README's table: Model | metric, mean ± std over seeds.

    python scripts/collect_results.py runs/            # every results.json below runs/
    python scripts/collect_results.py runs/*/pkd_* --out table.md --json table.json --runs_json runs.json

Runs that differ only in --seed are one row. A run still in progress is counted with its best so far
and marked in the n column.
"""
import argparse
import glob
import json
import os
import statistics
from collections import defaultdict

MODE_NAMES = {"ft": "FT", "kd": "KD", "pkd": "PKD"}
TASK_NAMES = {"sst-2": "SST-2", "qqp": "QQP", "chnsenticorp": "ChnSentiCorp", "cola": "CoLA", "mrpc": "MRPC",
              "rte": "RTE", "qnli": "QNLI", "mnli": "MNLI", "wnli": "WNLI", "sts-b": "STS-B"}


def find_results(paths):
    files = []
    for path in paths:
        if os.path.isfile(path):
            files.append(path)
        else:
            files += glob.glob(os.path.join(path, "**", "results.json"), recursive=True)
    return sorted(set(files))


def run_record(path, r):
    """One run, flat: what it was (mode, weights, seed) and what it reached (best and last dev metric)."""
    last = r["history"][-1] if r.get("history") else {}
    metric = r.get("best_metric_name", "acc")
    return {"run": os.path.dirname(path), "task": r["task"], "layers": r.get("num_student_layers"),
            "mode": r["mode"], "strategy": r.get("strategy"), "seed": r.get("seed"), "alpha": r["alpha"],
            "T": r["T"], "beta": r["beta"], "layer_pairs": r.get("layer_pairs"), "metric": metric,
            "best": r.get("best_metric"), "best_step": r.get("best_step"), "last": last.get(metric),
            "last_step": last.get("step"), "train_seconds": r.get("train_seconds"),
            "finished": r.get("finished", False), "eval_on": eval_on(r),
            "teacher_metric": (r.get("teacher_metrics") or {}).get(metric), "teacher_layers": r.get("teacher_layers"),
            "transfer_examples": r.get("transfer_examples", 0), "augmented_examples": r.get("augmented_examples", 0),
            "augment": augment_setting(r), "student_model": r.get("student_model")}


def mode_of(record):
    """ft, kd, pkd_skip or pkd_last; with _transfer (a transfer set) and _augment (augmented copies) after it."""
    return (record["mode"] + (f"_{record['strategy']}" if record.get("strategy") else "")
            + ("_transfer" if record.get("transfer_examples") else "")
            + ("_augment" if record.get("augmented_examples") else ""))


def augment_setting(r):
    """--augment N of a run (0 without); results.json files older than the field say only whether it had copies."""
    return r.get("augment", bool(r.get("augmented_examples")))


def count_range(counts):
    """One count when the runs agree, else (lowest, highest): augmented copies are drawn per seed."""
    counts = sorted(set(counts))
    return counts[0] if len(counts) == 1 else (counts[0], counts[-1])


def data_label(transfer_examples, augmented_examples):
    """What a run trained on beyond the labelled set, for a table's model column; a count is a number or a
    count_range."""
    def count(n):
        return f"{n[0]:,}-{n[1]:,}" if isinstance(n, tuple) else f"{n:,}"
    return (f" + transfer {count(transfer_examples)}" if transfer_examples else "") \
        + (f" + augmented {count(augmented_examples)}" if augmented_examples else "")


def mean_std(values, digits=4):
    return f"{statistics.mean(values):.{digits}f}" + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1
                                                      else "")


def eval_on(r):
    """The evaluation splits of a run (results.json files older than the field were evaluated on dev)."""
    return r.get("eval_on") or ["dev"]


def row_key(r):
    """What a run was, all but its seed: runs with the same key are one row, mean ± std over seeds. Augmentation
    counts as its setting, not as the copies a seed drew."""
    return (r["task"], r.get("num_student_layers"), r["mode"], r.get("strategy"), r["alpha"], r["T"], r["beta"],
            tuple(eval_on(r)), r.get("total_steps"), r.get("transfer_examples", 0), augment_setting(r),
            r.get("student_model"))


def model_label(key, teacher_layers=None, augmented_examples=0):
    """The model column of a row_key; augmented_examples is the row's count (or count_range) of copies."""
    _, layers, mode, strategy, alpha, T, beta, *rest = key
    student_model = rest[4] if len(rest) >= 5 else None  # a student of another model is never the teacher
    if mode == "ft" and teacher_layers == layers and not student_model:
        return f"BERT{layers} (teacher)"
    name = f"BERT{layers}-{MODE_NAMES[mode]}" + (f"-{strategy}" if strategy else "")
    weights = "" if mode == "ft" else f" (α {alpha:g}, T {T:g}" + (f", β {beta:g})" if mode == "pkd" else ")")
    student = f" from {os.path.basename(str(student_model).rstrip('/'))}" if student_model else ""
    return name + student + weights + (data_label(rest[2], augmented_examples) if len(rest) >= 4 else "")


def row_label(key, row, teacher_layers=None):
    return model_label(key, teacher_layers, count_range(row["augmented"] or [0]))


def collect(files):
    """Rows {key: {"values": [...], "unfinished": k, "runs": [...]}} of best metrics, grouped over seeds."""
    rows = defaultdict(lambda: {"values": [], "unfinished": 0, "runs": [], "metric": None, "augmented": []})
    for path in files:
        r = json.load(open(path, encoding="utf-8"))
        if r.get("best_metric") is None:
            continue
        row = rows[row_key(r)]
        row["values"].append(r["best_metric"])
        row["unfinished"] += not r.get("finished", False)
        row["runs"].append(os.path.dirname(path))
        row["augmented"].append(r.get("augmented_examples", 0))
        row["metric"] = r.get("best_metric_name", "acc")
    add_teacher_rows(rows, files)
    return rows


def add_teacher_rows(rows, files):
    """A teacher row from the teacher_metrics that KD and PKD runs record, when no teacher run was collected."""
    teachers = defaultdict(dict)  # row key -> {teacher folder: its metric}
    for path in files:
        r = json.load(open(path, encoding="utf-8"))
        if r.get("teacher_metrics") and r.get("teacher_layers"):
            key = (r["task"], r["teacher_layers"], "ft", None, 0.0, r["T"], 0.0, tuple(eval_on(r)), None)
            teachers[key][r.get("teacher")] = (r["teacher_metrics"][r.get("best_metric_name", "acc")], path)
    for key, found in teachers.items():
        if any(k[:3] == key[:3] and k[7] == key[7] for k in rows):
            continue  # the teacher's own run is there
        rows[key] = {"values": [v for v, _ in found.values()], "unfinished": 0, "metric": None, "augmented": [],
                     "runs": [folder for folder in found]}
        rows[key]["metric"] = next(rows[k]["metric"] for k in rows if k[0] == key[0] and rows[k]["metric"])


def table(rows):
    if not rows:
        return "no finished evaluations found"
    deepest = max(k[1] or 0 for k in rows)
    order = {"ft": 0, "kd": 1, "pkd": 2}
    lines = []
    for task in sorted({k[0] for k in rows}):
        keys = sorted((k for k in rows if k[0] == task),
                      key=lambda k: (-(k[1] or 0), order[k[2]], k[3] or "", k[4], k[5], k[6], k[8] or 0))
        metric = rows[keys[0]]["metric"]
        lines += [f"| Model | {TASK_NAMES.get(task, task)} (dev {metric}) | n |", "|---|---|---|"]
        for k in keys:
            v = rows[k]["values"]
            spread = f" ± {statistics.stdev(v):.4f}" if len(v) > 1 else ""
            note = f" ({rows[k]['unfinished']} running)" if rows[k]["unfinished"] else ""
            where = "" if k[7] == ("dev",) or k[7] == ("dev_matched", "dev_mismatched") else f" [on {k[7][0]}]"
            budget = f", {k[8]} steps" if any(o != k and o[:8] == k[:8] for o in keys) and k[8] else ""
            lines.append(f"| {row_label(k, rows[k], deepest)}{budget}{where} | {statistics.mean(v):.4f}{spread} | {len(v)}{note} |")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="run folders, folders above them, or results.json files")
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--json", help="also write the rows (values, runs) here")
    parser.add_argument("--runs_json", help="also write one record per run here (best and last metric, seconds)")
    args = parser.parse_args()
    files = find_results(args.paths)
    rows = collect(files)
    text = table(rows)
    print(text)
    if args.out:
        open(args.out, "w", encoding="utf-8").write(text + "\n")
    if args.json:
        json.dump([{"model": row_label(k, v), "key": list(k), **v} for k, v in rows.items()],
                  open(args.json, "w", encoding="utf-8"), indent=2)
    if args.runs_json:
        records = [run_record(f, json.load(open(f, encoding="utf-8"))) for f in files]
        json.dump(records, open(args.runs_json, "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main()
