"""The speed benchmark's own logic: variants timed in turn, and padding of random vs length-grouped batches."""
import os
import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import bench_speed  # noqa: E402


def test_variants_are_interleaved_after_one_warm_up():
    calls = []
    medians = bench_speed.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, reps=3)
    assert calls == ["a", "b"] * 4
    assert set(medians) == {"a", "b"} and all(m >= 0 for m in medians.values())


def test_grouped_batches_pad_far_less_than_random(monkeypatch):
    lengths = np.clip(np.random.RandomState(0).lognormal(2.4, 0.6, 3000).astype(int) + 2, 3, 128)
    monkeypatch.setattr(bench_speed, "sst2_lengths", lambda: (lengths, "synthetic"))
    out = bench_speed.bench_grouping(hidden=64, reps=1, timed_batches=2)
    assert out["examples"] == 3000
    assert out["padding_ratio_grouped"] <= 1.15 and out["padding_ratio_random"] > 2
    assert out["epoch_seconds_random"] > 0 and out["epoch_seconds_grouped"] > 0


def test_encoder_flops_of_bert_base_and_the_roofline_figures():
    import machine_peak

    # BERT-base, batch 32, seq 128: 12 layers x 4096 tokens x (12 h^2 + 2 s h) multiply-adds, x2
    assert abs(machine_peak.encoder_flops(12, 32, 128, 768) / 1e9 - 715.1) < 0.1  # 2 * 4096 * 12 * 7,274,496
    tp = {"predictor_12L": 2.0, "predictor_6L": 1.0, "predictor_3L": 0.5, "int8_3L": 0.2}
    peak = {"sgemm_paddle": 0.2, "sgemm_numpy": 0.1, "int8_gemm_onnxruntime": 0.05}
    out = bench_speed.roofline(768, {"throughput_b32_s128": tp}, peak)
    gemm = 2 * 4096 * 768 * 3072 / 1e9
    assert out["peak_sgemm_by"] == "numpy" and abs(out["peak_sgemm_gflops"] - gemm / 0.1) < 1e-9
    assert abs(out["fp32_gflops_12L"] - machine_peak.encoder_flops(12, 32, 128, 768) / 2e9) < 1e-9
    assert abs(out["fp32_12L_of_peak"] - out["fp32_gflops_12L"] / out["peak_sgemm_gflops"]) < 1e-12
    assert "int8_effective_gops_3L" in out and "onnx_fp32_gflops_3L" not in out
