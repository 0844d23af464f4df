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
