"""The CPU training step: cpu_env's settings against Paddle's defaults, in one run, and against the peak.

    python benchmarks/train_step.py [--rounds 3] [--ablation] [--out benchmarks/results/train_step.json]
    python benchmarks/train_step.py --profile        # where one SST-2-shape step's time goes, by op

The settings are read when Paddle and MKL load, so each variant runs in its own worker process:
"default" (PKD_CPU_TUNING=off: Paddle's and glibc's defaults, what this project ran before), "auto"
(cpu_env's choices) and, with --ablation, the settings added one at a time (MKL path, then copied views,
then malloc = auto). Workers alternate round after round, so a shared machine's drift hits all alike;
medians are reported. Each worker times the project's own step (run_patient_kd's compute_loss, backward
and apply_gradients, with build_optimizer's AdamW, warm-up schedule and clipping) of a 3-layer student
at batch 32, FT and PKD (from cached teacher outputs), for two real shapes: SST-2 after length grouping
(seq 16) and a sentence-pair task (seq 56), hidden 384 and 768. GFLOP/s count 3x the forward's matmul
FLOPs (forward and backward); the peak is the best of Paddle's and numpy's float32 matmul of the feed-
forward shape, measured by the same workers (bench_speed.py reports the same steps against the inference
engines' peak).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace

from project_root import ROOT  # first: the project on sys.path, CPU settings before paddle
from runtime import cpu_env
import machine_peak
import result_file
from timing import timed

SHAPES = {"sst2_s16": 16, "pair_s56": 56}
HIDDENS = (384, 768)
BATCH, LAYERS, VOCAB = 32, 3, 30522
MODES = {"ft": dict(alpha=0.0, beta=0.0), "pkd": dict(alpha=0.5, beta=100.0)}


def variants(ablation):
    """{name: environment for the worker}; the ablation adds cpu_env's settings one at a time."""
    off = {cpu_env.TUNING_VAR: "off"}
    out = {"default": off}
    if ablation:
        mkl = cpu_env.mkl_path({}, platform.machine(), *cpu_env.cpu_vendor_and_flags())[0]
        mkl = {"MKL_DEBUG_CPU_TYPE": mkl} if mkl else {}
        out["mkl"] = {**off, **mkl}
        out["mkl_views"] = {**off, **mkl, "FLAGS_use_stride_kernel": "0"}
    out["auto"] = {}
    return out


def step_flops(hidden, seq, layers=LAYERS, batch=BATCH):
    """Forward + backward matmul FLOPs of one step: 3x the forward's."""
    return 3 * machine_peak.encoder_flops(layers, batch, seq, hidden)


def flops_of(key):
    """step_flops of a step named f"{mode}_{shape}_h{hidden}" by student_steps."""
    mode, shape_and_hidden = key.split("_", 1)
    shape, hidden = shape_and_hidden.rsplit("_h", 1)
    return step_flops(int(hidden), SHAPES[shape])


def student_steps(hidden, shapes=SHAPES, modes=MODES, seed=0):
    """({f"{mode}_{shape}_h{hidden}": step function returning the loss}, the student): the project's training
    step of a fresh 3-layer student."""
    import numpy as np
    import paddle
    from paddlenlp.transformers import BertConfig, BertForSequenceClassification

    from tasks import benchmarks
    import run_patient_kd

    paddle.seed(seed)
    config = BertConfig(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=LAYERS, num_labels=2,
                        num_attention_heads=hidden // 64, intermediate_size=4 * hidden)
    model = BertForSequenceClassification(config)
    model.train()
    train_args = SimpleNamespace(learning_rate=5e-5, warmup_proportion=0.1, weight_decay=0.01, adam_epsilon=1e-8,
                                 max_grad_norm=1.0, T=10.0)
    optimizer, scheduler = run_patient_kd.build_optimizer(train_args, model, total_steps=1000)
    objective = benchmarks.get_task("sst-2").objective
    steps = {}
    for shape, seq in shapes.items():
        rng = np.random.RandomState(seq)
        ids = rng.randint(1000, VOCAB, size=(BATCH, seq))
        batch = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.zeros([BATCH, seq], "int64"),
                 "attention_mask": paddle.ones([BATCH, seq], "int64"),
                 "labels": paddle.to_tensor(rng.randint(0, 2, size=BATCH))}
        cached = (rng.randn(BATCH, 2).astype("float32"), rng.randn(BATCH, LAYERS - 1, hidden).astype("float32"))
        teacher = lambda _batch, cached=cached: tuple(paddle.to_tensor(a) for a in cached)  # noqa: E731
        for mode, weights in modes.items():
            args = SimpleNamespace(**vars(train_args), **weights)

            def step(args=args, batch=batch, teacher=teacher if weights["alpha"] > 0 else None):
                loss, _ = run_patient_kd.compute_loss(model, teacher, batch, LAYERS - 1, args, objective)
                run_patient_kd.backward(loss, scaler=None)
                run_patient_kd.apply_gradients(optimizer, scheduler, scaler=None)
                return loss.item()
            steps[f"{mode}_{shape}_h{hidden}"] = step
    return steps, model


def peak_sgemm_gflops(reps=5):
    """Best float32 matmul throughput of Paddle eager and numpy on the BERT-base feed-forward shape."""
    flops = machine_peak.matmul_flops(*machine_peak.ffn_shape(768))
    return {k: flops / timed(fn, reps) / 1e9 for k, fn in machine_peak.fp32_variants(768).items()}


def worker(steps):
    """One process: {step key: median seconds, "peak": {...}, "cpu": the settings line} as JSON."""
    line = cpu_env.configure()
    cpu_env.set_device("cpu")
    out = {"cpu": line, "peak": peak_sgemm_gflops()}
    for hidden in HIDDENS:
        out.update({k: timed(fn, steps) for k, fn in student_steps(hidden)[0].items()})
    print(json.dumps(out))


def run_worker(env_extra, steps):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps)],
                          capture_output=True, text=True, env={**cpu_env.fresh_environ(), **env_extra})
    if proc.returncode != 0:
        sys.exit(f"error: a worker with {env_extra or 'the default settings'} failed (exit {proc.returncode}):\n"
                 + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(rounds, names):
    """Medians per variant and step, GFLOP/s and share of the peak, speed-ups over "default"."""
    keys = [k for k in rounds[0]["auto"] if k not in ("cpu", "peak")]
    med = {v: {k: statistics.median(r[v][k] for r in rounds) for k in keys} for v in names}
    peak = max(statistics.median(r[v]["peak"][e] for r in rounds) for v in names for e in rounds[0][v]["peak"])
    gflops = {k: {v: flops_of(k) / med[v][k] / 1e9 for v in names} for k in keys}
    out = {"peak_sgemm_gflops": peak, "settings": {v: rounds[0][v]["cpu"] for v in names},
           "seconds_per_step": med, "gflops": gflops,
           "speedup_over_default": {v: {k: med["default"][k] / med[v][k] for k in keys} for v in names if v != "default"}}
    out["train_step_gflops_ft"] = gflops["ft_sst2_s16_h384"]["auto"]
    out["train_step_over_peak"] = out["train_step_gflops_ft"] / peak
    return out


def profile(steps=3):
    """Print where an SST-2-shape FT step's time goes (hidden 384): phases and operators, per step."""
    print(cpu_env.configure())  # before Paddle is imported
    import paddle.profiler as profiler

    cpu_env.set_device("cpu")
    step = student_steps(384, shapes={"sst2_s16": 16}, modes={"ft": MODES["ft"]})[0]["ft_sst2_s16_h384"]
    step()
    prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda _: None)  # no trace files
    prof.start()
    for _ in range(steps):
        step()
        prof.step()
    prof.stop()
    print(f"{steps} steps (divide by {steps} for one):")
    prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit="ms",
                 views=[profiler.SummaryView.ModelView, profiler.SummaryView.OperatorView])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per shape in each worker")
    parser.add_argument("--ablation", action="store_true", help="also time cpu_env's settings one at a time")
    parser.add_argument("--profile", action="store_true", help="print a by-op profile of one step and stop")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "train_step.json"))
    args = parser.parse_args()
    if args.worker:
        return worker(args.steps)
    if args.profile:
        return profile()
    tic = time.time()
    envs = variants(args.ablation)
    rounds = [{v: run_worker(env, args.steps) for v, env in envs.items()} for _ in range(args.rounds)]
    out = {"rounds": args.rounds, "steps": args.steps, "batch": BATCH, "layers": LAYERS, **summarise(rounds, list(envs)),
           "seconds": round(time.time() - tic)}
    result_file.save(out, args.out)
    print(f"peak sgemm {out['peak_sgemm_gflops']:.0f} GFLOP/s (Paddle eager / numpy)")
    for v, line in out["settings"].items():
        print(f"{v}: {line}")
    others = [v for v in envs if v != "default"]
    print("| step | default s | " + " | ".join(f"{v} s" for v in others) + " | auto speed-up | auto GFLOP/s | of peak |")
    print("|---|---|" + "---|" * len(others) + "---|---|---|")
    for k in out["gflops"]:
        s, g = out["seconds_per_step"], out["gflops"][k]["auto"]
        print(f"| {k} | {s['default'][k]:.3f} | " + " | ".join(f"{s[v][k]:.3f}" for v in others)
              + f" | {out['speedup_over_default']['auto'][k]:.2f}x | {g:.1f} | {g / out['peak_sgemm_gflops']:.0%} |")
    print(f"written {args.out} ({out['seconds']} s)")


if __name__ == "__main__":
    main()
