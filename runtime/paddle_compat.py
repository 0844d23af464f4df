"""The running Paddle: its version, its build and what it can do.

The one place that tells Paddle 2.6 from 3.x and a CPU build from a GPU build; the rest of the
project asks these names instead of comparing version strings.
"""
import os

import paddle

VERSION = paddle.__version__


def _major(version):
    head = version.split(".")[0]
    return int(head) if head.isdigit() and head != "0" else 99  # 0.0.0 is a develop build: the newest


# paddle.jit.save writes the program as PIR JSON since Paddle 3, as a ProgramDesc (.pdmodel) before;
# Paddle 3's predictor still reads the old format, Paddle 2.6's cannot read the new one.
PROGRAM_FILES = {"pir": "inference.json", "legacy": "inference.pdmodel"}
READABLE_PROGRAMS = ("pir", "legacy") if _major(VERSION) >= 3 else ("legacy",)
# Config.enable_memory_optim() breaks predictors of PIR programs (Paddle 3.2.2 and 3.3.1: "Not find
# predictor_id 0 and pass_name memory_optimize_pass"); it works on the legacy format under either.
MEMORY_OPTIM_PROGRAMS = ("legacy",)
# paddle2onnx 2.1.0 converts Paddle 3.x programs only (on Paddle 2.6 its import raises ValueError).
ONNX_EXPORT = _major(VERSION) >= 3


def has_cuda():
    return paddle.device.is_compiled_with_cuda()


def build_name():
    """E.g. 'paddlepaddle 3.3.1, CPU' or 'paddlepaddle-gpu 3.3.1, CUDA 12.6'."""
    if has_cuda():
        return f"paddlepaddle-gpu {VERSION}, CUDA {paddle.version.cuda()}"
    return f"paddlepaddle {VERSION}, CPU"


def visible_gpus():
    return paddle.device.cuda.device_count() if has_cuda() else 0


def gpu_unusable():
    """Why --device gpu cannot work here (one sentence), or None."""
    if not has_cuda():
        return (f"--device gpu: this Paddle has no CUDA support (installed: {build_name()}); "
                "install the GPU build (see README) or use --device cpu")
    if visible_gpus() == 0:
        return (f"--device gpu: no GPU visible (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}, "
                f"{build_name()}); check nvidia-smi or use --device cpu")
    return None


def compiled_archs():
    """Compute capabilities the build has kernels for, e.g. [60, 61, 70, 75, 80, 86]; [] when unknown."""
    archs = getattr(paddle.version, "cuda_archs", lambda: [])()  # Paddle 3.x; older builds do not say
    return [int(a) for a in archs] if isinstance(archs, (list, tuple)) else []


def runs_on(capability, archs):
    """True if kernels for `archs` run on a GPU of `capability` (major, minor): same major, not newer minor."""
    major, minor = capability
    return any(a // 10 == major and a % 10 <= minor for a in archs)


def gpu_arch_warnings():
    """One line per visible GPU that this build has no kernels for (none when the build does not say)."""
    archs = compiled_archs()
    if not archs or not has_cuda():
        return []
    lines = []
    for i in range(visible_gpus()):
        capability = tuple(paddle.device.cuda.get_device_capability(i))
        if not runs_on(capability, archs):
            lines.append(f"warning: GPU {i} ({paddle.device.cuda.get_device_name(i)}, compute capability "
                         f"{capability[0]}.{capability[1]}) is not among the architectures of {build_name()} "
                         f"(sm_{', sm_'.join(map(str, archs))}): Hopper needs the cu126 or cu129 build, "
                         "Blackwell the cu129 build (see README)")
    return lines

