"""The speed benchmark's own logic: variants timed in turn, and padding of random vs length-grouped batches."""
import numpy as np

import bench_speed


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


def test_train_step_summary_counts_flops_and_compares_settings():
    import train_step

    # 3 layers, hidden 384, batch 32, seq 16: (4 * 384^2 + 2 * 384 * 1536) * 2 * 512 tokens per layer, + attention;
    # forward and backward: 3x
    assert train_step.step_flops(384, 16) == 3 * 3 * (2 * 512 * (4 * 384 ** 2 + 8 * 384 ** 2) + 4 * 32 * 16 * 16 * 384)
    keys = [f"{m}_{s}_h{h}" for m in ("ft", "pkd") for s in train_step.SHAPES for h in train_step.HIDDENS]
    worker = {v: {"cpu": v, "peak": {"sgemm_paddle": 100.0, "sgemm_numpy": 80.0}, **{k: t for k in keys}}
              for v, t in (("default", 2.0), ("mkl", 1.6), ("auto", 1.0))}
    out = train_step.summarise([worker, worker], ["default", "mkl", "auto"])
    assert out["peak_sgemm_gflops"] == 100.0 and out["settings"]["mkl"] == "mkl"
    assert all(v == 2.0 for v in out["speedup_over_default"]["auto"].values())
    assert all(v == 1.25 for v in out["speedup_over_default"]["mkl"].values())
    assert out["train_step_gflops_ft"] == train_step.step_flops(384, 16) / 1.0 / 1e9
    assert out["train_step_over_peak"] == out["train_step_gflops_ft"] / 100.0
    assert list(train_step.variants(ablation=False)) == ["default", "auto"]
    assert train_step.variants(ablation=True)["mkl_views"]["FLAGS_use_stride_kernel"] == "0"


def test_student_steps_train_the_project_step(monkeypatch):
    """The benchmark's steps are the project's own: each one returns a finite loss and updates the student."""
    import train_step

    monkeypatch.setattr(train_step, "VOCAB", 2000)
    steps, model = train_step.student_steps(64, shapes={"sst2_s16": 16})
    assert sorted(steps) == ["ft_sst2_s16_h64", "pkd_sst2_s16_h64"]
    for step in steps.values():
        before = model.classifier.weight.numpy().copy()
        assert np.isfinite([step(), step()]).all()  # the warm-up's first learning rate is 0
        assert np.abs(model.classifier.weight.numpy() - before).max() > 0


def test_cpu_tuning_compares_runs_by_their_metric_and_losses():
    import cpu_tuning

    def run(accs, losses):
        return {"best_metric_name": "acc", "history": [{"step": 10 * i, "acc": a, "loss": 0.5} for i, a in enumerate(accs)],
                "train_log": [{"loss": x} for x in losses]}

    out = cpu_tuning.compare({"ft": run([0.5, 0.7], [1.0, 0.8]), "kd": run([0.5, 0.7], [1.0, 0.8])},
                             {"ft": run([0.5, 0.7], [1.0, 0.8 + 1e-7]), "kd": run([0.5, 0.6], [1.0, 0.9])})
    assert out["ft"]["same_acc_every_evaluation"] and abs(out["ft"]["max_train_loss_difference"] - 1e-7) < 1e-12
    assert not out["kd"]["same_acc_every_evaluation"] and abs(out["kd"]["max_train_loss_difference"] - 0.1) < 1e-9
