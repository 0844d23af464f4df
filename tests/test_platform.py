"""The running stack: exported program formats, GPU checks, and the CPU math environment (cpu_env)."""
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from runtime import cpu_env
from deploy import inference
from runtime import paddle_compat
from errors import InputError
from conftest import ROOT, classifier_of, common_args


def test_export_writes_the_running_paddles_format_and_says_so(tiny_bert, tmp_path):
    inference.export(classifier_of(tiny_bert), str(tmp_path))
    info = json.load(open(tmp_path / inference.EXPORT_INFO))
    assert info["engine"] == "paddle" and info["paddle"] == paddle_compat.VERSION
    assert os.path.isfile(tmp_path / paddle_compat.PROGRAM_FILES[info["program"]])
    assert info["program"] in paddle_compat.READABLE_PROGRAMS
    assert inference.program_file(str(tmp_path)) == (
        info["program"], os.path.join(str(tmp_path), paddle_compat.PROGRAM_FILES[info["program"]]))


def test_a_program_this_paddle_cannot_load_is_refused_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "inference.json").write_text("{}")
    (tmp_path / inference.PARAMS_FILE).write_bytes(b"")
    monkeypatch.setattr(paddle_compat, "READABLE_PROGRAMS", ("legacy",))  # as on Paddle 2.6
    with pytest.raises(InputError) as e:
        inference.program_file(str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path) in msg and paddle_compat.VERSION in msg and "inference.json" in msg


def test_an_empty_folder_is_no_export(tmp_path):
    with pytest.raises(InputError, match="no exported model"):
        inference.program_file(str(tmp_path))


def test_gpu_kernels_run_on_same_major_newer_minor_only():
    cu118 = [60, 61, 70, 75, 80, 86]
    assert paddle_compat.runs_on((8, 9), cu118)  # Ada on Ampere kernels
    assert paddle_compat.runs_on((7, 0), cu118)
    assert not paddle_compat.runs_on((9, 0), cu118)  # Hopper
    assert not paddle_compat.runs_on((12, 0), cu118 + [90])  # Blackwell
    assert not paddle_compat.runs_on((8, 0), [86])


@pytest.mark.skipif(paddle_compat.has_cuda(), reason="this Paddle has CUDA")
def test_device_gpu_on_a_cpu_build_is_one_line(sst2_dir, tiny_bert, tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "run_patient_kd.py"),
           *common_args(sst2_dir, tiny_bert, str(tmp_path / "out"))[:-2], "--device", "gpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: --device gpu: this Paddle has no CUDA support (installed: paddlepaddle {paddle_compat.VERSION}, "
        "CPU); install the GPU build (see README) or use --device cpu")
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_cpuinfo_is_read_from_the_first_processor(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx avx2 avx512f\n\n"
                    "processor\t: 1\nvendor_id\t: Other\nflags\t\t: fpu\n")
    assert cpu_env.cpu_vendor_and_flags(str(info)) == ("AuthenticAMD", {"fpu", "avx", "avx2", "avx512f"})
    assert cpu_env.cpu_vendor_and_flags(str(tmp_path / "missing")) == ("", set())


def test_a_process_uses_its_own_threads_not_every_core(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert cpu_env.threads({"OMP_NUM_THREADS": "1"}) == 1  # a worker of paddle.distributed.launch
    assert cpu_env.threads({"OMP_NUM_THREADS": "3"}) == 3
    assert cpu_env.threads({}) == 8 and cpu_env.threads({"OMP_NUM_THREADS": "x"}) == 8


def test_mkl_fast_path_only_on_amd_with_avx2_or_avx512_and_never_over_the_user():
    amd, avx2 = "AuthenticAMD", {"avx2"}
    assert cpu_env.mkl_path({}, "x86_64", amd, avx2)[0] == "5"
    assert cpu_env.mkl_path({}, "x86_64", amd, avx2 | cpu_env.AVX512_CORE)[0] == "7"
    assert cpu_env.mkl_path({}, "x86_64", amd, avx2 | {"avx512f", "avx512cd"})[0] == "5"  # no BW, DQ, VL
    assert cpu_env.mkl_path({}, "x86_64", "GenuineIntel", avx2 | {"avx512f"})[0] is None
    assert cpu_env.mkl_path({}, "x86_64", amd, {"avx"})[0] is None
    assert cpu_env.mkl_path({}, "aarch64", amd, avx2)[0] is None
    value, sentence = cpu_env.mkl_path({"MKL_DEBUG_CPU_TYPE": "0"}, "x86_64", amd, avx2)
    assert value is None and "set by the user" in sentence
    env = {"OMP_NUM_THREADS": "3"}
    line = cpu_env.configure(env)
    assert env["OMP_NUM_THREADS"] == "3" and line.startswith("OMP_NUM_THREADS=3; ")
    assert cpu_env.configure(env) == line  # a second call (or a child process) keeps its own choice
    env["MKL_DEBUG_CPU_TYPE"] = "0"
    assert "; MKL_DEBUG_CPU_TYPE=0 as set by the user; " in cpu_env.configure(env)


def test_cpu_settings_only_where_safe_and_never_over_the_user():
    linux = ("Linux", "glibc")
    calls, sentence = cpu_env.malloc_setting({}, *linux)
    assert calls == [(cpu_env.M_MMAP_MAX, 0), (cpu_env.M_TRIM_THRESHOLD, 2**31 - 1)] and "kept" in sentence
    assert cpu_env.malloc_setting({"MALLOC_ARENA_MAX": "2"}, *linux) == ([], "malloc: as set by the user (MALLOC_ARENA_MAX)")
    assert cpu_env.malloc_setting({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"}, *linux)[0] == []
    assert cpu_env.malloc_setting({"LD_PRELOAD": "/usr/lib/libhoard.so"}, *linux)[0] == []
    assert cpu_env.malloc_setting({}, "Darwin", "")[0] == [] and cpu_env.malloc_setting({}, "Linux", "musl")[0] == []
    assert cpu_env.stride_setting({})[0] == {"FLAGS_use_stride_kernel": False}
    assert cpu_env.stride_setting({"FLAGS_use_stride_kernel": "1"})[0] == {}
    off = {cpu_env.TUNING_VAR: "off"}
    assert cpu_env.tuning_off({cpu_env.TUNING_VAR: " False "}) and not cpu_env.tuning_off({cpu_env.TUNING_VAR: "on"})
    assert cpu_env.malloc_setting(off, *linux)[0] == [] and cpu_env.stride_setting(off)[0] == {}
    assert cpu_env.mkl_path(off, "x86_64", "AuthenticAMD", {"avx2"})[0] is None


def test_cpu_device_copies_views(monkeypatch):
    import paddle

    for name in ("FLAGS_use_stride_kernel", cpu_env.TUNING_VAR):
        monkeypatch.delenv(name, raising=False)
    before = paddle.get_flags(["FLAGS_use_stride_kernel"])
    try:
        cpu_env.set_device("cpu")
        assert paddle.get_flags(["FLAGS_use_stride_kernel"])["FLAGS_use_stride_kernel"] is False
        assert paddle.ones([2, 3, 4]).transpose([0, 2, 1]).is_contiguous()  # a copy, not a strided view
    finally:
        paddle.set_flags(before)
    # a process that moves on to a GPU gets Paddle's default back; the user's own value is never touched
    assert cpu_env.device_flags("gpu:0", {}) == {"FLAGS_use_stride_kernel": True}
    assert cpu_env.device_flags("cpu", {"FLAGS_use_stride_kernel": "1"}) == {}
    assert cpu_env.device_flags("gpu", {cpu_env.TUNING_VAR: "OFF"}) == {}


FAULTS_CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from runtime import cpu_env
cpu_env.configure()
import paddle
for step in range(20):
    if step == 4:  # counted from here: the heap has grown to its working size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = paddle.ones([16 * 1024 * 1024])  # 64 MB, allocated and freed each time, as a dense gradient is
    del x
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_without_new_page_faults():
    faults = {}
    for name, extra in (("default", {cpu_env.TUNING_VAR: "off"}), ("tuned", {})):
        proc = subprocess.run([sys.executable, "-c", FAULTS_CHILD, ROOT], env={**cpu_env.fresh_environ(), **extra},
                              capture_output=True,
                              text=True, check=True)
        faults[name] = int(proc.stdout.split()[-1])
    pages = 16 * 64 * 2**20 // 4096
    assert faults["default"] > pages / 2  # every allocation is a fresh mmap whose pages fault in
    # the heap's pages are reused: most allocations fault in nothing (CI on 3.13 once saw 5 of 16 refault, with a
    # training run beside it; without the tuning all 16 do)
    assert faults["tuned"] < faults["default"] / 2, faults


def test_cpu_settings_train_the_same_within_rounding(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    """20 PKD steps with Paddle's and glibc's defaults, with cpu_env's choices, and with only its MKL path:
    the MKL path changes rounding (losses within 1e-5), malloc and copied views change nothing."""
    mkl = cpu_env.mkl_path({}, platform.machine(), *cpu_env.cpu_vendor_and_flags())[0]
    off = {cpu_env.TUNING_VAR: "off"}
    variants = {"default": off, "auto": {}, "mkl_only": {**off, **({"MKL_DEBUG_CPU_TYPE": mkl} if mkl else {})}}
    losses = {}
    for name, extra in variants.items():
        out = tmp_path / name
        argv = common_args(sst2_dir, tiny_bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
                           "--num_layers_of_student_model", "2", "--alpha", "0.5", "--beta", "100",
                           "--max_steps", "20", "--logging_steps", "1", "--no_teacher_cache")
        subprocess.run([sys.executable, os.path.join(ROOT, "run_patient_kd.py"), *argv],
                       env={**cpu_env.fresh_environ(), **extra}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = json.load(open(out / "results.json"))["train_log"]
        losses[name] = np.array([[w["loss"], w["ce"], w["kd"], w["pt"]] for w in log])
        expected = "views: copied on the CPU" if name == "auto" else "views: strided (PKD_CPU_TUNING=off)"
        assert expected in open(out / "train.log").read()
    assert losses["auto"].shape == (20, 4)
    np.testing.assert_allclose(losses["auto"], losses["default"], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(losses["auto"], losses["mkl_only"])


@pytest.mark.skipif(paddle_compat.visible_gpus() > 0, reason="a GPU is visible")
def test_gpu_check_without_a_gpu_skips_everything_and_succeeds():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gpu_check.py")],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[1].startswith(("no GPU usable: this Paddle has no CUDA support", "no GPU usable: no GPU visible"))
    import gpu_check

    assert [line.split(":")[0] for line in lines[2:-1]] == [f"SKIP {item}" for item in gpu_check.ITEMS]
    assert lines[-1] == f"0 passed, 0 failed, {len(gpu_check.ITEMS)} skipped"


def test_gpu_check_items_pass_when_run_on_the_cpu(tmp_path, monkeypatch):
    """The check's own code, exercised here on the CPU (mixed precision and two GPUs need GPUs)."""
    import gpu_check
    from demo_assets import write_sst2_layout, write_tiny_bert

    monkeypatch.setattr(gpu_check, "DEVICE", "cpu")
    monkeypatch.setattr(gpu_check, "ITEMS", ("teacher", "ft", "kd", "pkd", "export_predict"))
    write_sst2_layout(str(tmp_path / "SST-2"), num_train=200, num_dev=50, num_test=5)
    write_tiny_bert(str(tmp_path / gpu_check.MODEL), num_layers=4, hidden_size=32, heads=2)
    results = gpu_check.run_checks(str(tmp_path))
    assert {item: status for item, (status, _) in results.items()} == {item: "pass" for item in gpu_check.ITEMS}
