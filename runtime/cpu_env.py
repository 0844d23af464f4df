"""Process settings for fast CPU math, decided in one place (most of them before Paddle is imported).

    from runtime.cpu_first import CPU_SETTINGS   # first import of an entry point: configure() before paddle
    cpu_env.set_device(device)                       # instead of paddle.set_device

- OMP_NUM_THREADS: Paddle pins OpenMP to one thread when it is unset (1.5x slower on 2 cores).
- MKL_DEBUG_CPU_TYPE on AMD processors: Paddle's wheels ship Intel's libmklml (MKL 2019), which gives
  non-Intel processors a slow generic path. 7 (AVX-512) where the processor has Skylake-SP's AVX-512
  subsets, else 5 (AVX2) where it has AVX2 (measured on an AMD EPYC with AVX-512: a [4096x768]x[768x3072]
  matmul 95 -> 203-253 -> 336 GFLOP/s). Never on Intel (MKL picks its best path there itself).
- glibc malloc keeps freed memory for reuse (mallopt: no mmap for large blocks, no trimming): by
  default every activation or gradient above ~32 MB is a fresh mmap whose pages fault in on first
  touch, ~30,000 page faults per training step at sequence length 56 (measured: 12% of the step).
- On the CPU, Paddle's view ops (transpose, reshape, slice) copy instead of returning strided views
  (FLAGS_use_stride_kernel=0, as Paddle <= 2.5 always did): the later copy of a 4-D strided view into
  a contiguous tensor is a slow single-threaded loop in Paddle's CPU kernels (attention's transposes:
  a training step at sequence length 56 1.3x faster). Results are bit-identical either way. GPUs
  keep Paddle's default.
Numbers: benchmarks/train_step.py. Each setting gives way to the user's own variable for it, and
PKD_CPU_TUNING=off keeps Paddle's and glibc's defaults for all but the threads (the before/after
comparison). Processors from Hygon (AMD Zen-based) are left to MKL's default: never tried.
"""
import contextlib
import ctypes
import io
import os
import platform
import sys
import warnings

# Lines Paddle prints, and warnings its dependencies raise, on every start that say nothing about this
# project's runs: Paddle warns whenever OMP_NUM_THREADS > 1 (the setting that makes CPU training 1.5x
# faster); paddle.utils.cpp_extension looks for ccache (nothing is compiled here); setuptools says it
# replaces distutils. Everything else printed at import is passed through.
PADDLE_IMPORT_NOISE = ("WARNING: OMP_NUM_THREADS set to ", "PLEASE USE OMP_NUM_THREADS WISELY.")
WARNINGS_NOISE = ("No ccache found", "Setuptools is replacing distutils")
TUNING_VAR = "PKD_CPU_TUNING"  # =off: Paddle's and glibc's defaults for all but the threads
MKL_CHOSEN_VAR = "PKD_MKL_DEBUG_CPU_TYPE"  # the value configure() set, so a later call (or a child) tells it from the user's


def tuning_off(environ):
    return environ.get(TUNING_VAR, "").strip().lower() in ("off", "0", "false", "no")


def fresh_environ(environ=os.environ):
    """A copy of environ without what cpu_env reads or sets, so that a child process decides afresh."""
    own = ("MKL_DEBUG_CPU_TYPE", MKL_CHOSEN_VAR, TUNING_VAR, "FLAGS_use_stride_kernel", "GLIBC_TUNABLES", "LD_PRELOAD")
    return {k: v for k, v in environ.items() if k not in own and not k.startswith("MALLOC_")}


def cpu_vendor_and_flags(cpuinfo="/proc/cpuinfo"):
    """('AuthenticAMD', {'avx2', ...}) from the first processor entry; ('', set()) when unreadable."""
    vendor, flags = "", set()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if vendor and flags:
                    break
    except OSError:
        pass
    return vendor, flags


# The AVX-512 subsets of Skylake-SP that MKL's AVX-512 path (type 7) uses; AMD's Zen 4 and later have
# them. Type 6 stops with "Illegal instruction" on an AMD EPYC (Xeon Phi's AVX-512, presumably): never chosen.
AVX512_CORE = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def mkl_path(environ, machine, vendor, flags):
    """(value for MKL_DEBUG_CPU_TYPE or None, sentence for the log)."""
    if "MKL_DEBUG_CPU_TYPE" in environ:
        return None, f"MKL_DEBUG_CPU_TYPE={environ['MKL_DEBUG_CPU_TYPE']} as set by the user"
    if tuning_off(environ):
        return None, f"MKL path: default ({TUNING_VAR}=off)"
    if machine.lower() not in ("x86_64", "amd64"):
        return None, f"MKL path: default ({machine} processor)"
    if vendor == "AuthenticAMD" and AVX512_CORE <= flags:
        return "7", "MKL path: AVX-512 (AMD processor; MKL_DEBUG_CPU_TYPE=7, set MKL_DEBUG_CPU_TYPE=0 for the default)"
    if vendor == "AuthenticAMD" and "avx2" in flags:
        return "5", "MKL path: AVX2 (AMD processor; MKL_DEBUG_CPU_TYPE=5, set MKL_DEBUG_CPU_TYPE=0 for the default)"
    return None, f"MKL path: default ({vendor or 'unknown'} processor)"


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def malloc_setting(environ, system, libc):
    """(mallopt calls to make, sentence for the log); no calls when the user chose, or malloc is not glibc's."""
    chosen = sorted(k for k in environ if k.startswith("MALLOC_") or (k == "GLIBC_TUNABLES" and "malloc" in environ[k]))
    if chosen:
        return [], f"malloc: as set by the user ({chosen[0]})"
    if tuning_off(environ):
        return [], f"malloc: default ({TUNING_VAR}=off)"
    if environ.get("LD_PRELOAD"):  # perhaps another allocator: not ours to tune
        return [], "malloc: default (LD_PRELOAD is set)"
    if system != "Linux" or libc != "glibc":
        return [], "malloc: default (not glibc)"
    return [(M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1)], "malloc: freed memory kept for reuse"


def stride_setting(environ):
    """({flag: value} to set on the CPU, sentence for the log)."""
    if "FLAGS_use_stride_kernel" in environ:
        return {}, f"FLAGS_use_stride_kernel={environ['FLAGS_use_stride_kernel']} as set by the user"
    if tuning_off(environ):
        return {}, f"views: strided ({TUNING_VAR}=off)"
    return {"FLAGS_use_stride_kernel": False}, "views: copied on the CPU (FLAGS_use_stride_kernel=0)"


def set_device(device):
    """paddle.set_device(device), with the CPU-only flag above on the CPU and Paddle's default elsewhere."""
    import paddle

    place = paddle.set_device(device)
    paddle.set_flags(device_flags(device, os.environ))
    return place


def device_flags(device, environ):
    """Paddle flags for running on `device`: the CPU-only one, or Paddle's default again when a process
    moves from the CPU to a GPU; none when the user set it."""
    flags = stride_setting(environ)[0]
    on_cpu = str(device).startswith("cpu")
    return {k: v if on_cpu else not v for k, v in flags.items()}


def threads(environ=os.environ):
    """The math threads this process may use: OMP_NUM_THREADS (configure() sets it to the cores; under
    paddle.distributed.launch each worker gets 1, unless the user chose), else the cores."""
    try:
        return max(1, int(environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


def configure(environ=os.environ):
    """Set the variables above in `environ` unless present, then import paddle without its start-up noise.

    Returns one line saying what was chosen, for the log.
    """
    environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    if environ.get("MKL_DEBUG_CPU_TYPE") is not None and environ.get(MKL_CHOSEN_VAR) == environ["MKL_DEBUG_CPU_TYPE"]:
        del environ["MKL_DEBUG_CPU_TYPE"]  # set by an earlier call (this process or a parent), not by the user
    value, sentence = mkl_path(environ, platform.machine(), *cpu_vendor_and_flags())
    if value is not None:
        environ["MKL_DEBUG_CPU_TYPE"] = environ[MKL_CHOSEN_VAR] = value
    calls, malloc_sentence = malloc_setting(environ, platform.system(), platform.libc_ver()[0])
    libc = ctypes.CDLL(None) if calls else None
    refused = [param for param, setting in calls if libc.mallopt(param, setting) != 1]
    if refused:
        malloc_sentence = f"malloc: mallopt refused parameter(s) {refused}"
    import_paddle_quietly()
    return (f"OMP_NUM_THREADS={environ['OMP_NUM_THREADS']}; {sentence}; {malloc_sentence}; "
            f"{stride_setting(environ)[1]}")


def import_paddle_quietly():
    for message in WARNINGS_NOISE:
        warnings.filterwarnings("ignore", message=message)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        import paddle  # noqa: F401
    for line in captured.getvalue().splitlines(keepends=True):
        if not line.startswith(PADDLE_IMPORT_NOISE):
            sys.stderr.write(line)
