"""Speed of the students and of training, as ratios measured in one process.

    python benchmarks/bench_speed.py            # BERT-base shape (hidden 768), ~13 minutes on 2 cores
    python benchmarks/bench_speed.py --small    # hidden 384, smaller samples, under a minute

Variants are interleaved (A B C A B C ...) so that drift of a shared machine hits all alike,
and medians are reported (eager models in one group, then exported predictors: see bench_inference). Writes benchmarks/results/speed.json (or --out) and prints a table:
(a) inference of 12-, 6- and 3-layer models, eager and exported (paddle.inference fp32; ONNX fp32
and int8 on onnxruntime, when requirements-deploy.txt is installed), throughput at seq 128 batch 32
and latency at batch 1 seq 32; (b) one training step of FT, KD and PKD, with the teacher run live
and from the cache; (c) an epoch of real SST-2 batches (when ../shared/data is present, else
synthetic lengths), random vs length-grouped batches; (d) the machine's own matmul peak
(machine_peak.py), fp32 and int8, next to the FLOP rate the predictors achieve; (e) the GFLOP/s of a
3-layer student's FT and PKD (cached) steps at SST-2's length-grouped shape (seq 16) and a pair
task's (seq 56), batch 32 (train_step.py), against that peak: train_step_over_peak.
"""
import argparse
import os
import sys
import tempfile
from types import SimpleNamespace

from project_root import ROOT, CPU_SETTINGS  # first: the project on sys.path, CPU settings before paddle
from runtime import cpu_env

import numpy as np
import paddle
from paddlenlp.transformers import BertConfig, BertForSequenceClassification

import data

from tasks import benchmarks
from deploy import inference
import machine_peak
import run_patient_kd
from runtime import teacher_cache
import train_step
import result_file
from timing import interleaved
from kd_loss import teacher_layers_for

SST2_TRAIN = os.path.join(ROOT, "..", "shared", "data", "glue", "SST-2", "train.tsv")


def bert(hidden, layers, vocab=30522, seed=0):
    paddle.seed(seed)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=hidden // 64, intermediate_size=4 * hidden, num_labels=2)
    model = BertForSequenceClassification(config)
    model.eval()
    return model


def random_ids(batch, seq, vocab=30522, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(1000, vocab, size=(batch, seq)).astype("int64")
    return ids, np.zeros_like(ids)


# Two engines in turn on few cores: Paddle's OpenMP threads spin ~200 ms after each run (KMP_BLOCKTIME)
# and onnxruntime's pool spins too, taking the cores from the next variant (measured here, hidden 384,
# b1 s32: Paddle 3L 63 ms interleaved with onnxruntime without a pause, 5.6 ms alone).
ENGINE_PAUSE = 0.3
SHAPES = {"throughput_b32_s128": (32, 128), "latency_b1_s32": (1, 32)}


def bench_inference(hidden, reps, workdir, eager_throughput=True):
    """{shape: {variant: median seconds}}; eager at b32 s128 (the slowest part by far) only if eager_throughput.

    Eager models are timed before any predictor exists: once a paddle.inference predictor has been
    created in the process, eager forwards run ~1.6x slower (measured here: 2.89 s -> 4.75 s).
    """
    depths = (12, 6, 3)
    models = {n: bert(hidden, n) for n in depths}
    out = {label: {} for label in SHAPES}
    for label, (batch, seq) in SHAPES.items():
        if eager_throughput or batch == 1:
            t_ids, t_types = (paddle.to_tensor(a) for a in random_ids(batch, seq))
            out[label].update(interleaved({f"eager_{n}L": eager_forward(models[n], t_ids, t_types) for n in depths},
                                          reps))
    predictors = {}
    for n, model in models.items():
        inference.export(model, os.path.join(workdir, f"L{n}"))
        predictors[f"predictor_{n}L"] = inference.create_predictor(os.path.join(workdir, f"L{n}"))
        predictors.update(onnx_predictors(model, n, workdir))
    for label, (batch, seq) in SHAPES.items():
        ids, types = random_ids(batch, seq)
        out[label].update(interleaved({name: predictor_forward(p, ids, types) for name, p in predictors.items()},
                                      reps, pause=ENGINE_PAUSE))
    return out


def onnx_predictors(model, n, workdir):
    """{onnx_fp32_NL, int8_NL: predictor}: the model exported to ONNX, and that export quantized as
    scripts/export_model.py --precision int8 does; {} where this stack cannot export ONNX (printed)."""
    from deploy import onnx_export
    from deploy import onnx_predictor
    from errors import InputError

    try:
        inference.check_request("onnx", "int8")
    except InputError as e:
        print(f"ONNX and int8 variants left out: {e}")
        return {}
    fp32 = os.path.join(inference.export(model, os.path.join(workdir, f"onnx{n}"), "onnx"), inference.ONNX_FILE)
    int8 = onnx_export.quantize_int8(fp32, os.path.join(workdir, f"int8_{n}.onnx"))
    threads = os.cpu_count() or 1  # as inference.create_predictor
    return {f"onnx_fp32_{n}L": onnx_predictor.OnnxPredictor(fp32, threads),
            f"int8_{n}L": onnx_predictor.OnnxPredictor(int8, threads)}


def bench_peak(hidden, reps, workdir=None):
    """{variant: median seconds} of one feed-forward-shaped matmul: without workdir Paddle eager and numpy
    (fp32), with it the engines (Paddle Inference and onnxruntime fp32, onnxruntime int8)."""
    if workdir is None:
        return interleaved(machine_peak.fp32_variants(hidden), reps)
    variants = {**machine_peak.engine_fp32_variants(hidden, workdir), **machine_peak.int8_variant(hidden)}
    return interleaved(variants, reps, pause=ENGINE_PAUSE)


RATE_KEYS = {"predictor": "fp32_gflops", "onnx_fp32": "onnx_fp32_gflops", "int8": "int8_effective_gops"}


def roofline(hidden, infer, peak):
    """FLOP rates the b32 s128 predictors achieve (model FLOPs / time) next to the matmul peaks."""
    tp, (batch, seq) = infer["throughput_b32_s128"], SHAPES["throughput_b32_s128"]
    gemm = machine_peak.matmul_flops(*machine_peak.ffn_shape(hidden, batch, seq)) / 1e9
    fastest = min((k for k in peak if k.startswith("sgemm_")), key=peak.get)
    out = {"peak_sgemm_gflops": gemm / peak[fastest], "peak_sgemm_by": fastest[len("sgemm_"):],
           "peak_int8_gops": gemm / peak["int8_gemm_onnxruntime"] if "int8_gemm_onnxruntime" in peak else None}
    for kind, key in RATE_KEYS.items():
        for n in (12, 6, 3):
            if f"{kind}_{n}L" in tp:
                out[f"{key}_{n}L"] = machine_peak.encoder_flops(n, batch, seq, hidden) / 1e9 / tp[f"{kind}_{n}L"]
    out["fp32_12L_of_peak"] = out["fp32_gflops_12L"] / out["peak_sgemm_gflops"]
    if out["peak_int8_gops"] and "int8_effective_gops_3L" in out:
        out["int8_3L_of_int8_peak"] = out["int8_effective_gops_3L"] / out["peak_int8_gops"]
    return out


def eager_forward(model, ids, types):
    def run():
        with paddle.no_grad():
            model(ids, token_type_ids=types).numpy()
    return run


def predictor_forward(predictor, ids, types):
    return lambda: inference.run_predictor(predictor, ids, types)


def bench_train_steps(hidden, reps, workdir, batch=32, seq=128, with_kd=True):
    """Seconds per optimizer step: FT, (KD,) and PKD (12 -> 6 layers), teacher live or cached."""
    teacher, student = bert(hidden, 12, seed=1), bert(hidden, 6, seed=2)
    student.train()
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=student.parameters())
    ids, types = random_ids(batch, seq, seed=3)
    layers = teacher_layers_for(6, 12, "skip")
    tensors = {"input_ids": paddle.to_tensor(ids), "token_type_ids": paddle.to_tensor(types),
               "attention_mask": paddle.ones_like(paddle.to_tensor(ids)),
               "labels": paddle.to_tensor(np.arange(batch) % 2), "idx": paddle.to_tensor(np.arange(batch))}
    cache_dir = os.path.join(workdir, "cache")
    os.makedirs(cache_dir, exist_ok=True)

    def live(batch_tensors):
        return run_patient_kd.modeling.teacher_forward(teacher, batch_tensors, layers)

    teacher_cache.build(cache_dir, live, [tensors], batch, layers, print)
    cache = teacher_cache.TeacherCache(cache_dir)

    objective = benchmarks.get_task("sst-2").objective

    def step(alpha, beta, outputs):
        args = SimpleNamespace(alpha=alpha, beta=beta, T=10.0)

        def run():
            loss, _ = run_patient_kd.compute_loss(student, outputs, tensors, len(layers), args, objective)
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            loss.item()
        return run

    variants = {"ft": step(0.0, 0.0, None), "pkd_live": step(0.7, 500.0, live), "pkd_cached": step(0.7, 500.0, cache)}
    if with_kd:
        variants.update(kd_live=step(0.7, 0.0, live), kd_cached=step(0.7, 0.0, cache))
    return interleaved(variants, reps)


def bench_student_steps(hiddens, reps):
    """GFLOP/s of the 3-layer student's FT and PKD (cached) steps at SST-2's and a pair task's shapes
    (train_step.py: the same steps, with cpu_env's settings against Paddle's defaults)."""
    rates = {}
    for hidden in hiddens:
        seconds = interleaved(train_step.student_steps(hidden)[0], reps)
        rates.update({k: train_step.flops_of(k) / t / 1e9 for k, t in seconds.items()})
    return rates


def sst2_lengths(max_seq_length=128):
    """Token counts of SST-2 train sentences (real file when present), with [CLS] and [SEP]."""
    if os.path.isfile(SST2_TRAIN):
        from paddlenlp.transformers import BasicTokenizer

        tok = BasicTokenizer(do_lower_case=True)  # word pieces ~ words for SST-2's short, plain English
        lines = open(SST2_TRAIN, encoding="utf-8").read().splitlines()[1:]
        counts = [min(len(tok.tokenize(line.split("\t")[0])) + 2, max_seq_length) for line in lines]
        return np.array(counts), "SST-2 train"
    rng = np.random.RandomState(0)
    return np.clip(rng.lognormal(2.4, 0.6, 67349).astype(int) + 2, 3, max_seq_length), "synthetic SST-2-like lengths"


def bench_grouping(hidden, reps, batch=32, timed_batches=20):
    lengths, source = sst2_lengths()

    class Sized:
        def __len__(self):
            return len(lengths)

    samplers = {"random": data.EpochBatchSampler(Sized(), batch, seed=0),
                "grouped": data.EpochBatchSampler(Sized(), batch, seed=0, lengths=lengths)}
    batches = {k: list(s) for k, s in samplers.items()}
    out = {"source": source, "examples": len(lengths)}
    for k, b in batches.items():
        padded = sum(len(x) * lengths[x].max() for x in b)
        out[f"padding_ratio_{k}"] = padded / lengths.sum()
    # step time on the padded shapes of the first batches of each kind, 3-layer student, forward + backward
    student = bert(hidden, 3, seed=4)
    student.train()
    optimizer = paddle.optimizer.AdamW(learning_rate=1e-5, parameters=student.parameters())
    shapes = {k: [int(lengths[x].max()) for x in b[:timed_batches]] for k, b in batches.items()}

    def steps(seqs):
        def run():
            for seq in seqs:
                ids, types = random_ids(batch, seq)
                loss = student(paddle.to_tensor(ids), token_type_ids=paddle.to_tensor(types)).mean()
                loss.backward()
                optimizer.step()
                optimizer.clear_grad()
        return run

    times = interleaved({k: steps(v) for k, v in shapes.items()}, reps)
    for k in batches:
        out[f"epoch_seconds_{k}"] = times[k] / timed_batches * len(batches[k])
    return out


def print_inference_table(tp, lat):
    kinds = ("eager", "predictor", "onnx_fp32", "int8")
    print("| model | " + " | ".join(f"{k} b32 s128" for k in kinds) + " | " + " | ".join(f"{k} b1 s32" for k in kinds)
          + " |\n|---|" + "---|" * 2 * len(kinds))
    for n in (12, 6, 3):
        cells = [f"{tp[f'{k}_{n}L']:.3f} s" if f"{k}_{n}L" in tp else "-" for k in kinds]
        cells += [f"{lat[f'{k}_{n}L'] * 1000:.1f} ms" if f"{k}_{n}L" in lat else "-" for k in kinds]
        print(f"| {n} layers | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true",
                        help="hidden 384 instead of BERT-base's 768; leaves out eager throughput and the KD step")
    parser.add_argument("--reps", type=int, default=None, help="timed rounds per variant (default 5, --small 3)")
    parser.add_argument("--out", default=None,
                        help="default benchmarks/results/speed.json; with --small, speed_small.json beside it "
                             "(the committed full-size figures are never overwritten by a quick run)")
    args = parser.parse_args()
    if args.out is None:
        args.out = os.path.join(ROOT, "benchmarks", "results", "speed_small.json" if args.small else "speed.json")
    hidden = 384 if args.small else 768
    reps = args.reps or (3 if args.small else 5)
    # --small: hidden 384, no eager throughput and no KD step (not target figures), smaller samples
    train_shape = dict(batch=16, seq=32) if args.small else dict(batch=32, seq=128)
    cpu_env.set_device("cpu")
    # eager work first: a paddle.inference predictor in the process slows eager mode (bench_inference)
    with tempfile.TemporaryDirectory() as workdir:
        train = bench_train_steps(hidden, 3, workdir, with_kd=not args.small, **train_shape)
        student = bench_student_steps((384,) if args.small else train_step.HIDDENS, reps)
        grouping = bench_grouping(hidden, 2 if args.small else 3, timed_batches=6 if args.small else 20)
        peak = bench_peak(hidden, reps)  # eager Paddle: before any predictor or onnxruntime session
        infer = bench_inference(hidden, reps, workdir, eager_throughput=not args.small)
        peak.update(bench_peak(hidden, reps, workdir))
    tp, lat = infer["throughput_b32_s128"], infer["latency_b1_s32"]
    ratio = lambda d, a, b: d[a] / d[b] if a in d and b in d else None  # noqa: E731
    eager_ratio = (lambda a, b: tp[a] / tp[b]) if "eager_12L" in tp else (lambda a, b: None)
    result = {
        "command": " ".join(["python"] + sys.argv), "hidden_size": hidden, "reps": reps, "cpu_settings": CPU_SETTINGS,
        "train_step_shape": train_shape,
        "threads": os.environ.get("OMP_NUM_THREADS"), "cpu_count": os.cpu_count(),
        "infer_speedup_6L": tp["predictor_12L"] / tp["predictor_6L"],
        "infer_speedup_3L": tp["predictor_12L"] / tp["predictor_3L"],
        "infer_speedup_6L_eager": eager_ratio("eager_12L", "eager_6L"),
        "infer_speedup_3L_eager": eager_ratio("eager_12L", "eager_3L"),
        "predictor_over_eager_12L": eager_ratio("eager_12L", "predictor_12L"),
        "pkd_step_over_ft_step_cached": train["pkd_cached"] / train["ft"],
        "pkd_step_over_ft_step_uncached": train["pkd_live"] / train["ft"],
        "kd_step_over_ft_step_cached": train["kd_cached"] / train["ft"] if "kd_cached" in train else None,
        "padding_ratio_random": grouping["padding_ratio_random"],
        "padding_ratio_grouped": grouping["padding_ratio_grouped"],
        "grouped_epoch_speedup": grouping["epoch_seconds_random"] / grouping["epoch_seconds_grouped"],
        "int8_over_fp32_3L": ratio(tp, "predictor_3L", "int8_3L"),
        "int8_3L_over_fp32_12L": ratio(tp, "predictor_12L", "int8_3L"),
        "int8_over_fp32_12L": ratio(tp, "predictor_12L", "int8_12L"),
        "int8_over_fp32_6L": ratio(tp, "predictor_6L", "int8_6L"),
        "onnx_fp32_over_paddle_fp32_3L": ratio(tp, "predictor_3L", "onnx_fp32_3L"),
        "int8_over_fp32_3L_b1": ratio(lat, "predictor_3L", "int8_3L"),
        **roofline(hidden, infer, peak),
        "train_step_gflops": student,
        "seconds": {"inference": infer, "train_step": train, "grouping": grouping, "matmul_peak": peak},
    }
    result["train_step_gflops_ft"] = student["ft_sst2_s16_h384"]
    result["train_step_over_peak"] = student["ft_sst2_s16_h384"] / result["peak_sgemm_gflops"]
    result_file.save(result, args.out)
    print("\n| student step (3 layers, b32) | GFLOP/s | of peak |\n|---|---|---|")
    for k, v in student.items():
        print(f"| {k} | {v:.1f} | {v / result['peak_sgemm_gflops']:.0%} |")
    print(f"\nhidden {hidden}, {reps} interleaved rounds, medians (seconds)\n")
    print_inference_table(tp, lat)
    print(f"\n| training step (12 -> 6 layers, b{train_shape['batch']} s{train_shape['seq']}) | seconds |\n|---|---|")
    for k, v in train.items():
        print(f"| {k} | {v:.3f} |")
    print()
    for k, v in result.items():
        if isinstance(v, float):
            print(f"{k}: {v:.3f}")
    print(f"grouping measured on {grouping['source']}; written {args.out}")


if __name__ == "__main__":
    main()
