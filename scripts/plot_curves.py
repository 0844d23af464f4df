"""Dev metric against training step for several runs, as a PNG.

    python scripts/plot_curves.py runs/SST-2/ft runs/SST-2/kd runs/SST-2/pkd_skip --out curves.png

Each argument is a run folder (or its results.json); the label is the folder name unless
--labels gives one per run. Runs sharing a label (seeds) are drawn as their mean with a band.
"""
import argparse
import json
import os
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load_history(path):
    file = path if path.endswith(".json") else os.path.join(path, "results.json")
    r = json.load(open(file, encoding="utf-8"))
    metric = r.get("best_metric_name", "acc")
    return metric, [h["step"] for h in r["history"]], [h[metric] for h in r["history"]]


def plot(runs, labels, out, title=None):
    groups = defaultdict(list)
    metric = "acc"
    for run, label in zip(runs, labels):
        metric, steps, values = load_history(run)
        groups[label].append((steps, values))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label, curves in groups.items():
        steps = curves[0][0]
        same = [v for s, v in curves if s == steps]
        mean = np.mean(same, axis=0)
        ax.plot(steps, mean, marker="o", markersize=3, label=f"{label} (n={len(same)})" if len(same) > 1 else label)
        if len(same) > 1:
            std = np.std(same, axis=0)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"dev {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(textwrap.fill(title, 80), fontsize=10)  # experiment titles run long: wrap, never clip
    fig.tight_layout()
    fig.savefig(out)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--labels", nargs="+", help="one label per run (default: folder names)")
    parser.add_argument("--title")
    parser.add_argument("--out", default="curves.png")
    args = parser.parse_args()
    labels = args.labels or [os.path.basename(os.path.normpath(r)) for r in args.runs]
    if len(labels) != len(args.runs):
        parser.error("--labels needs one label per run")
    print(f"wrote {plot(args.runs, labels, args.out, args.title)}")


if __name__ == "__main__":
    main()
