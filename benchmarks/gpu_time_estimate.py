"""An ESTIMATE of scripts/reproduce_sst2_gpu.sh's wall time per GPU generation (not a measurement).

    python benchmarks/gpu_time_estimate.py --train_tsv ../shared/data/glue/SST-2/train.tsv --vocab models/minilm-l6/vocab.txt

FLOPs from BERT-base's shape and the real SST-2 training sentences, tokenised (bert-base-uncased's
vocabulary, which all-MiniLM-L6-v2 shares) and batched as training batches them (length-grouped,
batch 32); a training step is 3x its forward's FLOPs. Each GPU is credited with UTILISATION of its
published dense FP16 tensor throughput (NVIDIA datasheets; sparse figures halved), and no step can be
faster than a per-step floor for the framework's own work (kernel launches, Python): a guess.
"""
import argparse

import numpy as np

HIDDEN, FFN, BATCH = 768, 3072, 32
# Dense FP16 tensor TFLOPS from NVIDIA's datasheets (sparse figures halved).
GPUS = {"T4": 65, "V100": 125, "A10": 125, "L4": 121, "RTX 4090": 165, "A100": 312, "H100 SXM": 989,
        "B200": 2250}
UTILISATION = 0.3
STEP_FLOOR_S = {12: 0.030, 6: 0.015}  # guessed framework overhead per optimizer step


def forward_flops(layers, padded_lengths):
    """Forward FLOPs of `layers` BERT-base layers over batches of the given padded lengths (batch 32)."""
    seq = np.asarray(padded_lengths, dtype=np.float64)
    dense = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) * seq  # q, k, v, out and the feed-forward, per token
    attention = 2 * 2 * seq * seq * HIDDEN  # scores and weighted sum
    return layers * BATCH * (dense + attention)


def grouped_padded_lengths(lengths, seed=0):
    """Padded length of every training batch of one epoch, batched as the training loader does."""
    import data

    sampler = data.EpochBatchSampler(list(range(len(lengths))), BATCH, seed, lengths=lengths)
    sampler.set_epoch(0)
    return [max(lengths[i] for i in batch) for batch in sampler]


def experiment_steps(n_batches):
    """(layers, optimizer steps, forward-only batches) of each phase of the GPU experiment (defaults)."""
    return [("teacher, 3 epochs", 12, 3 * n_batches, 0),
            ("teacher caches (2) and dev", 12, 0, 2 * n_batches),
            ("sweep: 9 students, 1 epoch", 6, 9 * n_batches, 0),
            ("final: 20 students, 4 epochs", 6, 20 * 4 * n_batches, 0)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train_tsv", required=True)
    parser.add_argument("--vocab", required=True, help="bert-base-uncased's vocab.txt")
    args = parser.parse_args()
    from paddlenlp.transformers import BertTokenizer

    tokenizer = BertTokenizer(args.vocab)
    with open(args.train_tsv, encoding="utf-8") as f:
        sentences = [line.split("\t")[0] for line in list(f)[1:]]
    lengths = [min(128, len(tokenizer.tokenize(s)) + 2) for s in sentences]
    padded = grouped_padded_lengths(lengths)
    print(f"SST-2 train: {len(lengths)} sentences, mean {np.mean(lengths):.1f} tokens; {len(padded)} batches of "
          f"{BATCH}, mean padded length {np.mean(padded):.1f}")
    rows = []
    for name, peak in GPUS.items():
        seconds = 0.0
        for _, layers, steps, forwards in experiment_steps(len(padded)):
            step_flops = 3 * forward_flops(layers, padded)  # one epoch's batches
            per_step = np.maximum(step_flops / (peak * 1e12 * UTILISATION), STEP_FLOOR_S[layers])
            per_forward = np.maximum(step_flops / 3 / (peak * 1e12 * UTILISATION), STEP_FLOOR_S[layers] / 3)
            seconds += per_step.mean() * steps + per_forward.mean() * forwards
        rows.append((name, peak, seconds / 3600))
    print(f"| GPU | dense FP16 TFLOPS | estimated hours (one GPU, {UTILISATION:.0%} utilisation, step floor "
          f"{STEP_FLOOR_S[12] * 1000:.0f}/{STEP_FLOOR_S[6] * 1000:.0f} ms) |\n|---|---|---|")
    for name, peak, hours in rows:
        print(f"| {name} | {peak} | {hours:.1f} |")


if __name__ == "__main__":
    main()
