"""Process environment for fast CPU math, decided before Paddle is imported (it reads it once, at import).

    import cpu_env; CPU_MATH = cpu_env.configure()   # first thing in an entry point; it imports paddle

- OMP_NUM_THREADS: Paddle pins OpenMP to one thread when it is unset (1.5x slower on 2 cores).
- MKL_DEBUG_CPU_TYPE=5 on AMD processors with AVX2: Paddle's wheels ship Intel's libmklml, which
  gives non-Intel processors a slow generic path (measured on an AMD EPYC: a [1792x384]x[384x1536]
  matmul 30 -> 60 GFLOP/s, a training step at sequence length 56 2.1x faster). Never on Intel (it would
  take AVX-512 away), never over a value the user set: MKL_DEBUG_CPU_TYPE=0 forces the old path.
"""
import contextlib
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
CHOSEN = "PKD_MKL_DEBUG_CPU_TYPE"  # the value configure() set, so a later call (or a child) tells it from the user's


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


def mkl_path(environ, machine, vendor, flags):
    """(value for MKL_DEBUG_CPU_TYPE or None, sentence for the log)."""
    if "MKL_DEBUG_CPU_TYPE" in environ:
        return None, f"MKL_DEBUG_CPU_TYPE={environ['MKL_DEBUG_CPU_TYPE']} as set by the user"
    if machine.lower() not in ("x86_64", "amd64"):
        return None, f"MKL path: default ({machine} processor)"
    if vendor == "AuthenticAMD" and "avx2" in flags:
        return "5", "MKL path: AVX2 (AMD processor; MKL_DEBUG_CPU_TYPE=5, set MKL_DEBUG_CPU_TYPE=0 for the default)"
    return None, f"MKL path: default ({vendor or 'unknown'} processor)"


def configure(environ=os.environ):
    """Set the variables above in `environ` unless present, then import paddle without its start-up noise.

    Returns one line saying what was chosen, for the log.
    """
    environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    if environ.get("MKL_DEBUG_CPU_TYPE") is not None and environ.get(CHOSEN) == environ["MKL_DEBUG_CPU_TYPE"]:
        del environ["MKL_DEBUG_CPU_TYPE"]  # set by an earlier call (this process or a parent), not by the user
    value, sentence = mkl_path(environ, platform.machine(), *cpu_vendor_and_flags())
    if value is not None:
        environ["MKL_DEBUG_CPU_TYPE"] = environ[CHOSEN] = value
    import_paddle_quietly()
    return f"OMP_NUM_THREADS={environ['OMP_NUM_THREADS']}; {sentence}"


def import_paddle_quietly():
    for message in WARNINGS_NOISE:
        warnings.filterwarnings("ignore", message=message)
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        import paddle  # noqa: F401
    for line in captured.getvalue().splitlines(keepends=True):
        if not line.startswith(PADDLE_IMPORT_NOISE):
            sys.stderr.write(line)
