"""The teacher's pass over a transfer set, in sentences per second: the eager teacher in file order, the eager
teacher on length-sorted batches, and the exported paddle.inference program on length-sorted batches (the path
the teacher cache takes on the CPU), measured in one run, rounds interleaved; next to this machine's fastest
fp32 matmul (machine_peak.py).

    python benchmarks/teacher_pass.py --teacher runs/sst2_low/teacher/best_model \\
        --sentences runs/sst2_low/split/transfer.tsv [--n 2000] [--out benchmarks/results/teacher_pass.json]

Without --teacher and --sentences: a random 6-layer BERT of hidden 384 (MiniLM's shape) over synthetic
sentences of SST-2's lengths.
"""
import argparse
import os
import sys
import tempfile

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
import numpy as np
import paddle

import data
import modeling
from deploy import teacher_program
from kd_loss import teacher_layers_for
from machine_peak import encoder_flops, engine_fp32_variants, ffn_shape, fp32_variants, matmul_flops
from runtime.cpu_first import CPU_SETTINGS
from tasks.benchmarks import get_task
from tasks.table_reader import read_table
import result_file
from timing import interleaved


def sentences_of(path, n):
    columns, rows = read_table(path, "--sentences")
    column = next(c for c in ("sentence", "text", "text_a") if c in columns)
    return [row[column] for _, row in rows[:n]]


def encoded_batches(tokenizer, texts, batch_size, max_len, sort):
    encoded = data.encode_split([{"sentence": t} for t in texts], get_task("sst-2"), tokenizer, max_len)
    collate = data.collator(tokenizer)
    order = (data.LengthSortedBatchSampler(data.lengths_of(encoded), batch_size) if sort
             else [list(range(i, min(i + batch_size, len(encoded)))) for i in range(0, len(encoded), batch_size)])
    batches = [collate([encoded[i] for i in chunk]) for chunk in order]
    return [{k: paddle.to_tensor(v) for k, v in b.items()} for b in batches]


def padded_tokens(batches):
    return sum(int(np.prod(b["input_ids"].shape)) for b in batches)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", help="a fine-tuned classifier folder (default: a random 6-layer BERT, hidden 384)")
    p.add_argument("--sentences", help="a .tsv/.csv/.jsonl with a sentence or text column")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_seq_length", type=int, default=64)
    p.add_argument("--student_layers", type=int, default=3, help="which PKD layers (skip) the cache keeps")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    paddle.set_device("cpu")
    teacher, tokenizer = load(args)
    texts = sentences_of(args.sentences, args.n) if args.sentences else synthetic(args.n)
    layers = teacher_layers_for(args.student_layers, modeling.depth(teacher), "skip")
    in_order = encoded_batches(tokenizer, texts, args.batch_size, args.max_seq_length, sort=False)
    by_length = encoded_batches(tokenizer, texts, args.batch_size, args.max_seq_length, sort=True)
    with tempfile.TemporaryDirectory() as work:
        program = teacher_program.exported_forward(teacher, layers, work)
        hidden = teacher.config.hidden_size
        variants = {
            "eager_file_order": lambda: [modeling.teacher_forward(teacher, b, layers) for b in in_order],
            "eager_length_sorted": lambda: [modeling.teacher_forward(teacher, b, layers) for b in by_length],
            "program_length_sorted": lambda: [program(b) for b in by_length],
        }
        with paddle.no_grad():
            seconds = interleaved(variants, args.reps, pause=0.5)
        peak = interleaved({**fp32_variants(hidden), **engine_fp32_variants(hidden, work)}, 5, pause=0.5)
    gemm_flops = matmul_flops(*ffn_shape(hidden))
    peak_gflops = {name: gemm_flops / s / 1e9 for name, s in peak.items()}
    mean_seq = padded_tokens(by_length) / len(texts)
    program_gflops = encoder_flops(modeling.depth(teacher), len(texts), mean_seq, hidden) / \
        seconds["program_length_sorted"] / 1e9
    result = {"teacher": args.teacher or "random BERT 6x384", "sentences": args.sentences or "synthetic",
              "n": len(texts), "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
              "layers_cached": layers, "cpu_settings": CPU_SETTINGS, "threads": os.cpu_count(),
              "padded_tokens_per_sentence": {"file_order": padded_tokens(in_order) / len(texts),
                                             "length_sorted": mean_seq},
              "sentences_per_second": {name: len(texts) / s for name, s in seconds.items()},
              "speedup_over_eager_file_order": {name: seconds["eager_file_order"] / s for name, s in seconds.items()},
              "program_over_eager_length_sorted": seconds["eager_length_sorted"] / seconds["program_length_sorted"],
              "program_encoder_gflops": program_gflops, "machine_peak_fp32_gflops": max(peak_gflops.values()),
              "peak_variants_gflops": peak_gflops}
    result_file.save(result, args.out, echo=True)


def load(args):
    """(teacher in eval mode, its tokenizer): the given classifier, or a random BERT of MiniLM's shape."""
    from paddlenlp.transformers import AutoTokenizer

    if args.teacher:
        folder = args.teacher
        teacher = modeling.load_classifier(folder, "--teacher")
    else:
        from demo_assets import write_tiny_bert

        folder = write_tiny_bert(tempfile.mkdtemp(prefix="teacher-pass-"), num_layers=6, hidden_size=384, heads=12)
        source = modeling.load_pretrained(folder)
        teacher = modeling.build_student(modeling.student_config(source.config, 6, 2), source)
    teacher.eval()
    return teacher, AutoTokenizer.from_pretrained(folder)


def synthetic(n):
    from demo_assets import FILLER, NEGATIVE, POSITIVE

    rng = np.random.RandomState(0)
    words = POSITIVE + NEGATIVE + FILLER
    lengths = np.clip(rng.lognormal(2.3, 0.7, n).astype(int), 2, 60)  # about SST-2's: median ~10 words
    return [" ".join(rng.choice(words, size=k)) for k in lengths]


if __name__ == "__main__":
    sys.exit(main())
