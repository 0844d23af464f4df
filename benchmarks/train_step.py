"""The CPU training step against the machine's peak, and MKL's two code paths compared in one run.

    python benchmarks/train_step.py [--rounds 5] [--out benchmarks/results/train_step.json]

MKL reads its code-path variable once, when Paddle loads it, so each variant runs in its own worker
process ("default": MKL_DEBUG_CPU_TYPE=0, the path Paddle took before cpu_env.py; "auto": what
cpu_env.py chooses on this processor). Workers of the variants alternate, round after round, so a
shared machine's drift hits both alike; medians are reported. Each worker times a few optimizer
steps of a 3-layer student (FT, and PKD from a cached teacher) at batch 32 for two real shapes:
SST-2 after length grouping (seq 16) and a sentence-pair task (seq 56), hidden 384 and 768.
Achieved GFLOP/s count 3x the forward's matmul FLOPs (forward and backward); the peak is the best
of Paddle's and numpy's float32 matmul of the feed-forward shape, measured by the same worker.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SHAPES = {"sst2_s16": 16, "pair_s56": 56}
HIDDENS = (384, 768)
BATCH, LAYERS, VOCAB = 32, 3, 30522
VARIANTS = {"default": "0", "auto": None}  # MKL_DEBUG_CPU_TYPE for the worker (None: cpu_env decides)


def forward_matmul_flops(layers, hidden, batch, seq):
    """Matmul FLOPs of a BERT forward: q, k, v, out projections, feed-forward (4x hidden), attention."""
    tokens = batch * seq
    dense = 2 * tokens * (4 * hidden * hidden + 2 * hidden * 4 * hidden)
    attention = 2 * 2 * batch * seq * seq * hidden
    return layers * (dense + attention)


def timings(fn, reps):
    """Seconds of each of `reps` calls of fn, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return times


def peak_sgemm_gflops(paddle, np, m=4096, k=768, n=3072, reps=5):
    """Best float32 matmul throughput of Paddle (eager) and numpy on the feed-forward shape."""
    a, b = np.random.rand(m, k).astype("float32"), np.random.rand(k, n).astype("float32")
    ta, tb = paddle.to_tensor(a), paddle.to_tensor(b)
    best = {}
    for name, fn in {"paddle": lambda: paddle.matmul(ta, tb).numpy(), "numpy": lambda: a @ b}.items():
        best[name] = 2 * m * k * n / min(timings(fn, reps)) / 1e9
    return best


def worker(steps):
    """One process: {f"{mode}_{shape}_h{hidden}": median seconds per step, "peak": {...}, "mkl": ...} as JSON."""
    import cpu_env

    mkl = cpu_env.configure()
    import numpy as np
    import paddle
    from paddlenlp.transformers import BertConfig, BertForSequenceClassification

    import kd_loss

    paddle.set_device("cpu")
    out = {"mkl": mkl, "peak": peak_sgemm_gflops(paddle, np)}
    for hidden in HIDDENS:
        paddle.seed(0)
        config = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=LAYERS,
                            num_attention_heads=hidden // 64, intermediate_size=4 * hidden, num_labels=2)
        model = BertForSequenceClassification(config)
        model.train()
        optimizer = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=model.parameters(),
                                           grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0))
        for shape, seq in SHAPES.items():
            rng = np.random.RandomState(seq)
            ids = paddle.to_tensor(rng.randint(1000, VOCAB, size=(BATCH, seq)).astype("int64"))
            labels = paddle.to_tensor(rng.randint(0, 2, size=(BATCH,)).astype("int64"))
            teacher_logits = paddle.to_tensor(rng.randn(BATCH, 2).astype("float32"))
            teacher_cls = paddle.to_tensor(rng.randn(BATCH, LAYERS - 1, hidden).astype("float32"))
            for mode in ("ft", "pkd"):
                def step():
                    o = model(ids, token_type_ids=paddle.zeros_like(ids), output_hidden_states=True,
                              return_dict=True)
                    student_cls = kd_loss.stack_cls(o.hidden_states, range(1, LAYERS))
                    if mode == "ft":
                        loss, _ = kd_loss.pkd_loss(o.logits, None, labels, None, None, 0.0, 10.0, 0.0)
                    else:
                        loss, _ = kd_loss.pkd_loss(o.logits, teacher_logits, labels, student_cls, teacher_cls,
                                                   0.5, 10.0, 100.0)
                    loss.backward()
                    optimizer.step()
                    optimizer.clear_grad()
                    loss.item()
                out[f"{mode}_{shape}_h{hidden}"] = statistics.median(timings(step, steps))
    print(json.dumps(out))


def run_worker(variant, steps):
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DEBUG_CPU_TYPE", "PKD_MKL_DEBUG_CPU_TYPE")}
    if VARIANTS[variant] is not None:
        env["MKL_DEBUG_CPU_TYPE"] = VARIANTS[variant]
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps)],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(rounds):
    """Medians per variant and key, GFLOP/s, ratios to the peak, and auto-over-default speed-ups."""
    keys = [k for k in rounds[0]["auto"] if k not in ("mkl", "peak")]
    med = {v: {k: statistics.median(r[v][k] for r in rounds) for k in keys} for v in VARIANTS}
    peak = max(statistics.median(r[v]["peak"][e] for r in rounds) for v in VARIANTS for e in ("paddle", "numpy"))
    out = {"peak_sgemm_gflops": peak, "mkl_paths": {v: rounds[0][v]["mkl"] for v in VARIANTS},
           "seconds_per_step": med, "gflops": {}, "speedup_auto_over_default": {}}
    for k in keys:
        mode, shape, h = k.split("_", 2)[0], "_".join(k.split("_")[1:3]), int(k.rsplit("_h", 1)[1])
        flops = 3 * forward_matmul_flops(LAYERS, h, BATCH, SHAPES[shape])
        out["gflops"][k] = {v: flops / med[v][k] / 1e9 for v in VARIANTS}
        out["speedup_auto_over_default"][k] = med["default"][k] / med["auto"][k]
    out["train_step_gflops_ft"] = out["gflops"]["ft_sst2_s16_h384"]["auto"]
    out["train_step_over_peak"] = out["train_step_gflops_ft"] / peak
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per shape in each worker")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "train_step.json"))
    args = parser.parse_args()
    if args.worker:
        return worker(args.steps)
    tic = time.time()
    rounds = [{v: run_worker(v, args.steps) for v in VARIANTS} for _ in range(args.rounds)]
    out = {"rounds": args.rounds, "steps": args.steps, "batch": BATCH, "layers": LAYERS, **summarise(rounds),
           "seconds": round(time.time() - tic)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"peak sgemm {out['peak_sgemm_gflops']:.0f} GFLOP/s; MKL: {out['mkl_paths']}")
    print("| step | default s | auto s | speed-up | auto GFLOP/s | of peak |\n|---|---|---|---|---|---|")
    for k, speedup in out["speedup_auto_over_default"].items():
        g = out["gflops"][k]["auto"]
        print(f"| {k} | {out['seconds_per_step']['default'][k]:.3f} | {out['seconds_per_step']['auto'][k]:.3f} | "
              f"{speedup:.2f}x | {g:.1f} | {g / out['peak_sgemm_gflops']:.0%} |")
    print(f"written {args.out} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
