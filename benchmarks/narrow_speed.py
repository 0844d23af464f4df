"""Inference throughput of the ERNIE 3.0 shapes a narrow student can take, as ratios to the 12-layer teacher shape,
measured in one run: exported Paddle predictor (fp32) and ONNX int8 (onnxruntime), random weights.

    python benchmarks/narrow_speed.py [--batch 32 --seq 128 --reps 5] [--out benchmarks/results/narrow_speed.json]

Shapes (PaddleNLP's ERNIE 3.0 model zoo: layers x hidden, 12 heads, feed-forward 4 x hidden, vocabulary 40,000,
task-type embeddings): Base 12x768, Medium 6x768, Mini 6x384, Micro 4x384, Nano 4x312. Variants interleaved
(timing.interleaved), medians; next to the machine's fastest fp32 matmul (machine_peak.py).
"""
import argparse
import os
import tempfile

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
import numpy as np
import paddle
from paddlenlp.transformers import ErnieConfig, ErnieForSequenceClassification

from deploy import inference
from machine_peak import encoder_flops, engine_fp32_variants, ffn_shape, fp32_variants, matmul_flops
from runtime.cpu_first import CPU_SETTINGS
import result_file
from timing import interleaved

SHAPES = {"base": (12, 768), "medium": (6, 768), "mini": (6, 384), "micro": (4, 384), "nano": (4, 312)}


def ernie3(layers, hidden, seed=0):
    paddle.seed(seed)
    config = ErnieConfig(vocab_size=40000, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=12,
                         intermediate_size=4 * hidden, max_position_embeddings=2048, type_vocab_size=4,
                         use_task_id=True, task_type_vocab_size=3, num_labels=2)
    model = ErnieForSequenceClassification(config)
    model.eval()
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--precisions", default="fp32,int8")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    paddle.set_device("cpu")
    ids = np.random.RandomState(0).randint(100, 40000, size=(args.batch, args.seq)).astype("int64")
    types = np.zeros_like(ids)
    variants, params = {}, {}
    with tempfile.TemporaryDirectory() as work:
        for name, (layers, hidden) in SHAPES.items():
            model = ernie3(layers, hidden)
            params[name] = sum(int(w.numel()) for w in model.parameters())
            for precision in args.precisions.split(","):
                fmt = "paddle" if precision == "fp32" else "onnx"
                folder = inference.export(model, os.path.join(work, f"{name}_{precision}"), fmt, precision)
                predictor = inference.create_predictor(folder)
                variants[f"{name}_{precision}"] = lambda pr=predictor: pr(ids, types)
        seconds = interleaved(variants, args.reps, pause=0.5)
        peak = interleaved({**fp32_variants(768), **engine_fp32_variants(768, work)}, 5, pause=0.5)
    peak_gflops = max(matmul_flops(*ffn_shape(768)) / s / 1e9 for s in peak.values())
    base = seconds["base_fp32"]
    result = {"batch": args.batch, "seq": args.seq, "reps": args.reps, "cpu_settings": CPU_SETTINGS,
              "threads": os.cpu_count(), "parameters_millions": {k: v / 1e6 for k, v in params.items()},
              "sentences_per_second": {k: args.batch / s for k, s in seconds.items()},
              "speedup_over_base_fp32": {k: base / s for k, s in seconds.items()},
              "encoder_gflops": {f"{name}_{prec}": encoder_flops(*SHAPES[name][:1], args.batch, args.seq,
                                                                 SHAPES[name][1]) / seconds[f"{name}_{prec}"] / 1e9
                                 for name in SHAPES for prec in args.precisions.split(",")},
              "machine_peak_fp32_gflops": peak_gflops}
    result_file.save(result, args.out, echo=True)


if __name__ == "__main__":
    main()
