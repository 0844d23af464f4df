"""Weight files for the security tests: booby-trapped pickles, and torch checkpoints written without torch.

A hostile file here only ever runs `touch MARKER` (in the test's own tmp_path), and only if something
unpickles it the unsafe way: the tests assert the marker is never created.
"""
import collections
import contextlib
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np

from model_folders import safe_weights

# The global a pickled os.system asks for: its __module__ ("posix" on Linux, "nt" on Windows).
SYSTEM = f"{os.system.__module__}.system"
# A hand-written pickle can name os.system itself.
HAND_WRITTEN_OS_SYSTEM = b"cos\nsystem\n(S'touch %s'\ntR."


class Payload:
    """What a booby-trapped weights file holds: unpickling it runs a shell command."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def hostile_state(marker, state=None):
    """A state dict that looks genuine (real arrays, e.g. a model's) with one payload among them."""
    state = dict(state) if state is not None else {"weight": np.ones((2, 2), np.float32)}
    state["bias"] = Payload(f"touch {marker}")
    return state


def write_hostile_pdparams(path, marker, state=None):
    with open(path, "wb") as f:
        pickle.dump(hostile_state(marker, state), f, protocol=4)


def hostile_model_dir(source_dir, folder, marker):
    """A copy of the model folder `source_dir` (config, vocabulary) whose weights, the model's own arrays,
    are a model_state.pdparams with a payload inside: valid in every respect but the payload."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(source_dir):
        if not name.endswith((".safetensors", ".pdparams")):
            with open(os.path.join(source_dir, name), "rb") as src, open(os.path.join(folder, name), "wb") as dst:
                dst.write(src.read())
    weights = safe_weights.read_weights(safe_weights.weights_file(source_dir))
    write_hostile_pdparams(os.path.join(folder, safe_weights.PDPARAMS), marker, weights)
    return str(folder)


# ---- torch's zip format, written without torch ----

@contextlib.contextmanager
def fake_torch():
    """Just enough of `torch` in sys.modules for pickle to name torch.FloatStorage etc. and
    torch._utils._rebuild_tensor_v2 while writing; removed again afterwards."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in safe_weights.TORCH_STORAGE_DTYPES:
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2, torch._utils = _rebuild_tensor_v2, utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


class FakeStorage:
    def __init__(self, key, kind, raw):
        self.key, self.kind, self.raw = key, kind, raw


class FakeTensor:
    """Pickles like a torch tensor: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


def write_torch_zip(path, state, storages, prefix="archive"):
    """torch.save's layout: PREFIX/data.pkl (protocol 2, storages as persistent ids), PREFIX/data/KEY, version."""
    with fake_torch() as torch:
        class Pickler(pickle.Pickler):
            def persistent_id(self, obj):
                if isinstance(obj, FakeStorage):
                    itemsize = np.dtype(safe_weights.TORCH_STORAGE_DTYPES[obj.kind]).itemsize
                    return ("storage", getattr(torch, obj.kind), obj.key, "cpu", len(obj.raw) // itemsize)
                return None

        buffer = io.BytesIO()
        Pickler(buffer, protocol=2).dump(state)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{prefix}/data.pkl", buffer.getvalue())
        zf.writestr(f"{prefix}/byteorder", "little")
        for storage in storages:
            zf.writestr(f"{prefix}/data/{storage.key}", storage.raw)
        zf.writestr(f"{prefix}/version", "3\n")


def write_torch_state(path, arrays, extra=None):
    """A torch.save'd state dict of float32 arrays (one storage each), plus `extra` entries (e.g. a Payload)."""
    state, storages = collections.OrderedDict(), []
    for i, (name, value) in enumerate(arrays.items()):
        value = np.ascontiguousarray(value, dtype="<f4")
        storages.append(FakeStorage(str(i), "FloatStorage", value.tobytes()))
        strides = tuple(s // 4 for s in value.strides)
        state[name] = FakeTensor(storages[-1], 0, tuple(value.shape), strides)
    state.update(extra or {})
    write_torch_zip(path, state, storages)
