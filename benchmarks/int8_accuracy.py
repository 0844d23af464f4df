"""Dev accuracy of trained students exported in fp32 and in int8, and how often their predictions agree.

    python benchmarks/int8_accuracy.py --runs_dir ../main/runs/sst2_p3/final \\
        --dev ../shared/data/glue/SST-2/dev.tsv --out benchmarks/results/sst2_int8.json

For every MODE_seedS/best_model under --runs_dir (modes ft, kd, pkd_skip, pkd_last by default), the
model is exported as scripts/export_model.py does, three times: Paddle fp32 (paddle.inference), ONNX
fp32 and ONNX int8 (onnxruntime), and each export predicts the dev file as scripts/predict.py does.
Writes --out (JSON, one record per student, with this command) and prints a Markdown table.
"""
import argparse
import glob
import os
import statistics
import sys
import tempfile

from project_root import ROOT  # first: the project on sys.path, CPU settings before paddle

import numpy as np

import data

from tasks import benchmarks
from deploy import inference
import modeling
import result_file

EXPORTS = (("paddle", "fp32"), ("onnx", "fp32"), ("onnx", "int8"))
TARGET_MEAN_DROP = 1.0  # points of accuracy, fp32 -> int8


def students(runs_dir, modes):
    """[(mode, seed, best_model folder)] present under runs_dir, in mode order then seed order."""
    found = []
    for mode in modes:
        for path in glob.glob(os.path.join(runs_dir, f"{mode}_seed*", "best_model")):
            seed = os.path.basename(os.path.dirname(path))[len(mode) + len("_seed"):]
            if seed.isdigit() and any(os.path.isfile(os.path.join(path, f)) for f in modeling.WEIGHT_FILES):
                found.append((mode, int(seed), path))
    return sorted(found, key=lambda s: (modes.index(s[0]), s[1]))


def dev_logits(model_dir, dev_path, max_seq_length, workdir):
    """{(format, precision): logits} of the dev file, plus the labels."""
    task = benchmarks.get_task("sst-2")
    tokenizer = modeling.load_tokenizer(model_dir, "--runs_dir")
    raw = benchmarks.load_file(task, "dev", dev_path)
    encoded = [data.encode(task, tokenizer, max_seq_length)(raw[i], i) for i in range(len(raw))]
    model = modeling.load_classifier(model_dir, "--runs_dir")
    logits = {}
    for fmt, precision in EXPORTS:
        folder = inference.export(model, os.path.join(workdir, f"{fmt}_{precision}"), fmt, precision)
        logits[fmt, precision] = inference.predict_logits(inference.create_predictor(folder), encoded,
                                                          data.collator(tokenizer))
    return logits, np.array([e["labels"] for e in encoded])


def record(mode, seed, path, logits, labels):
    acc = {f"{fmt}_{precision}": float((v.argmax(-1) == labels).mean()) for (fmt, precision), v in logits.items()}
    fp32, int8 = logits["paddle", "fp32"], logits["onnx", "int8"]
    return {"mode": mode, "seed": seed, "model_dir": path, "dev_examples": len(labels),
            "accuracy": acc, "drop_points": 100 * (acc["paddle_fp32"] - acc["onnx_int8"]),
            "agreement_int8_fp32": float((fp32.argmax(-1) == int8.argmax(-1)).mean()),
            "agreement_onnx_fp32_paddle_fp32": float((fp32.argmax(-1) == logits["onnx", "fp32"].argmax(-1)).mean()),
            "max_abs_logit_diff_int8": float(np.abs(fp32 - int8).max()),
            "mean_abs_logit_diff_int8": float(np.abs(fp32 - int8).mean())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs_dir", required=True, help="folder of MODE_seedS/best_model runs")
    parser.add_argument("--dev", required=True, help="SST-2 dev.tsv (official layout)")
    parser.add_argument("--modes", nargs="+", default=["ft", "kd", "pkd_skip", "pkd_last"])
    parser.add_argument("--max_seq_length", type=int, default=64, help="as the students were trained and evaluated")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "sst2_int8.json"))
    args = parser.parse_args()
    rows = []
    for mode, seed, path in students(args.runs_dir, args.modes):
        with tempfile.TemporaryDirectory() as workdir:
            logits, labels = dev_logits(path, args.dev, args.max_seq_length, workdir)
        rows.append(record(mode, seed, path, logits, labels))
        print(f"{mode} seed {seed}: {rows[-1]['accuracy']}, agreement {rows[-1]['agreement_int8_fp32']:.4f}",
              flush=True)
    if not rows:
        sys.exit(f"error: --runs_dir {args.runs_dir}: no MODE_seedS/best_model folders for modes {args.modes}")
    drops = [r["drop_points"] for r in rows]
    result = {"command": " ".join(["python"] + sys.argv), "int8_method": "onnxruntime quantize_dynamic, QInt8 weights",
              "max_seq_length": args.max_seq_length, "mean_drop_points": statistics.mean(drops),
              "target_mean_drop_points": TARGET_MEAN_DROP, "students": rows}
    result_file.save(result, args.out)
    print("\n| student | seed | fp32 (Paddle) | fp32 (ONNX) | int8 (ONNX) | drop (points) | agreement int8 / fp32 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        a = r["accuracy"]
        print(f"| {r['mode']} | {r['seed']} | {100 * a['paddle_fp32']:.2f} | {100 * a['onnx_fp32']:.2f} | "
              f"{100 * a['onnx_int8']:.2f} | {r['drop_points']:+.2f} | {100 * r['agreement_int8_fp32']:.2f}% |")
    print(f"\nmean drop {result['mean_drop_points']:+.2f} points (target <= {TARGET_MEAN_DROP}); written {args.out}")


if __name__ == "__main__":
    main()
