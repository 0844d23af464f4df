"""Split a labelled train file into K labelled examples and an unlabelled transfer set (the rest, labels dropped).

    python scripts/low_resource_split.py TRAIN.tsv OUT_DIR --k 1000 [--transfer_sizes 5000,20000] [--seed 0]

Writes OUT_DIR/labelled.tsv (K examples, stratified: each label keeps its share of the train file), and
OUT_DIR/transfer.tsv (every other example, text columns only), plus transfer_N.tsv for each N of
--transfer_sizes (the first N rows of a fixed shuffle of transfer.tsv, so smaller sets are inside larger
ones). Columns keep their names; the label column is found by --label_column. The low-resource
experiments (reproduce_*_low_resource.sh) read these files as --train_file and --transfer_file.
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tasks.table_reader import read_table  # noqa: E402


def stratified(labels, k, seed):
    """Indices of k examples whose label shares match the whole set's (largest remainder), in file order."""
    rng = np.random.RandomState(seed)
    classes = sorted(set(labels))
    by_class = {c: [i for i, v in enumerate(labels) if v == c] for c in classes}
    exact = {c: k * len(by_class[c]) / len(labels) for c in classes}
    counts = {c: int(exact[c]) for c in classes}
    for c in sorted(classes, key=lambda c: exact[c] - counts[c], reverse=True)[:k - sum(counts.values())]:
        counts[c] += 1
    picked = [i for c in classes for i in rng.permutation(by_class[c])[:counts[c]]]
    return sorted(picked)


def write_tsv(path, columns, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train_file")
    p.add_argument("out_dir")
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--label_column", default="label")
    p.add_argument("--transfer_sizes", default="")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    columns, rows = read_table(args.train_file, "train_file")
    rows = [row for _, row in rows]
    labels = [row[args.label_column] for row in rows]
    if not 0 < args.k < len(rows):
        p.error(f"--k {args.k}: must be between 1 and {len(rows) - 1}")
    picked = set(stratified(labels, args.k, args.seed))
    os.makedirs(args.out_dir, exist_ok=True)
    write_tsv(os.path.join(args.out_dir, "labelled.tsv"), columns, [rows[i] for i in sorted(picked)])
    text_columns = [c for c in columns if c != args.label_column]
    transfer = [rows[i] for i in range(len(rows)) if i not in picked]
    write_tsv(os.path.join(args.out_dir, "transfer.tsv"), text_columns, transfer)
    order = np.random.RandomState(args.seed + 1).permutation(len(transfer))
    for n in [int(x) for x in args.transfer_sizes.split(",") if x]:
        write_tsv(os.path.join(args.out_dir, f"transfer_{n}.tsv"), text_columns, [transfer[i] for i in sorted(order[:n])])
    print(f"{args.out_dir}: labelled {len(picked)}, transfer {len(transfer)}")


if __name__ == "__main__":
    main()
