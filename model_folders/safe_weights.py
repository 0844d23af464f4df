"""Reading model weight files without running code from them; writing model.safetensors.

A pickle is a program: unpickling a weight file runs whatever callables it names, so
`paddle.load` or `torch.load` on a file someone handed us can execute anything (a
`__reduce__` returning `(os.system, ("...",))` is enough). safetensors is plain data, so the
model folders the project writes hold `model.safetensors`. Older folders hold pickles:
`model_state.pdparams` (paddle.save, PaddleNLP save_pretrained) or torch's `pytorch_model.bin`.
These are read with Python's documented defence, a `pickle.Unpickler` whose `find_class`
admits only the globals genuine weight files reference. Anything else is refused before it
is imported, and the error names it. The result must then be a flat dict of numeric arrays,
so a file cannot smuggle in object arrays or other structures either.

numpy only (and the `safetensors` package for the safetensors functions): no paddle, no torch.
"""
import collections
import io
import os
import pickle
import typing
import zipfile

import numpy as np

# Weight files of a model folder, in the order they are looked for: safetensors first, as
# PaddleNLP's from_pretrained does.
SAFETENSORS = "model.safetensors"
PDPARAMS = "model_state.pdparams"
TORCH_BIN = "pytorch_model.bin"
MODEL_WEIGHT_FILES = (SAFETENSORS, PDPARAMS)


class UnsafePickleError(Exception):
    """A pickle asking for a global outside the allow-list: refused before anything is imported."""

    def __init__(self, global_name, source):
        self.global_name, self.source = global_name, source
        super().__init__(f"{source}: wants to import {global_name}, which weight files never need")


class WeightsFormatError(ValueError):
    """A file that is not (only) a dict of numeric arrays in the expected layout."""


NUMERIC_KINDS = "biufc"  # bool, signed, unsigned, float, complex: never object, string or structured


def _checked_dtype(spec, align=False, copy=True):
    """numpy.dtype as a pickle reaches it: short numeric type codes only (never 'O' or structured)."""
    if not isinstance(spec, str) or len(spec) > 4:
        raise WeightsFormatError(f"unexpected dtype {spec!r} in a weights pickle")
    dtype = np.dtype(spec)  # the pickle's align and copy arguments are not passed on
    if dtype.kind not in NUMERIC_KINDS:
        raise WeightsFormatError(f"non-numeric dtype {dtype} in a weights pickle")
    return dtype


def _latin1_bytes(text, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles use it (bytes spelled as latin-1 text), and nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise WeightsFormatError(f"unexpected _codecs.encode({type(text).__name__}, {encoding!r}) in a weights pickle")
    return text.encode("latin1")


class _Sealed:
    """What find_class hands a pickle for a Python function or class: callable like it, but unchangeable.
    A pickle's BUILD sets attributes on whatever object it is given; on a shared function or class that
    would change how later files in this process are read."""

    __slots__ = ("target",)

    def __init__(self, target):
        object.__setattr__(self, "target", target)

    def __call__(self, *args, **kwargs):
        return self.target(*args, **kwargs)

    def __setattr__(self, name, value):
        raise WeightsFormatError("a weights pickle tried to change how weights are read")

    def __setstate__(self, state):
        raise WeightsFormatError("a weights pickle tried to change how weights are read")


# What numpy arrays pickle to: _reconstruct (numpy.core.multiarray under numpy 1.x, as Paddle 2.6
# writes; numpy._core.multiarray under numpy 2.x, as Paddle 3 writes), ndarray and dtype;
# _codecs.encode holds the raw bytes under protocol 2. _reconstruct is taken from an array
# itself, so files of either numpy read under either.
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,  # the class itself: _reconstruct's argument; a BUILD on it fails
    ("numpy", "dtype"): _Sealed(_checked_dtype),
    ("_codecs", "encode"): _Sealed(_latin1_bytes),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """find_class returns only allow-listed (module, name) pairs: no import, no getattr, no dotted names."""

    def __init__(self, file, allowed, source):
        super().__init__(file, encoding="latin1")
        self._allowed, self._source = allowed, source

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"{module}.{name}", self._source) from None


def _unpickle(data, allowed, source, persistent_load=None):
    """Unpickle bytes with the allow-list; a file that is no pickle at all is a WeightsFormatError."""
    unpickler = _RestrictedUnpickler(io.BytesIO(data), allowed, source)
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load
    try:
        return unpickler.load()
    except (UnsafePickleError, WeightsFormatError):
        raise
    except Exception as e:  # truncated, not a pickle, a persistent id where none belongs, ...
        raise WeightsFormatError(f"{source}: not a readable weights file ({type(e).__name__}: {e})") from e


def _check_array(value, key, source):
    """A plain numeric array, rebuilt from its bytes: whatever state the pickle gave the array or its dtype
    (object flags on a float dtype, a foreign buffer) does not survive."""
    if type(value) is not np.ndarray or value.dtype.kind not in NUMERIC_KINDS or value.dtype.fields \
            or value.dtype.hasobject:
        raise WeightsFormatError(f"{source}: {key!r} is a {type(value).__name__}, not a numeric array")
    return np.frombuffer(value.tobytes(), dtype=np.dtype(value.dtype.str)).reshape(value.shape).copy()


def _check_state_dict(obj, source):
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise WeightsFormatError(f"{source}: holds a {type(obj).__name__}, not a state dict")
    return obj


PADDLE_NAME_TABLE = "StructuredToParameterName@@"  # {structured name: internal name}; dropped
PADDLE_SPLIT_INFO = "UnpackBigParamInfor@@"  # Paddle's spelling: arrays over 1 GiB split under protocol 2/3


def _join_split_arrays(state, source):
    """Undo paddle.save's splitting of big arrays into `name@@.i` slices."""
    for key, info in state.pop(PADDLE_SPLIT_INFO, {}).items():
        try:
            parts = [state.pop(part) for part in info["slices"]]
            state[key] = np.concatenate(parts).reshape(info["OriginShape"])
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsFormatError(f"{source}: broken {PADDLE_SPLIT_INFO} entry for {key!r}") from e
    return state


def read_pdparams(path):
    """{name: ndarray} of a paddle.save'd state dict (model_state.pdparams), never calling paddle.load.

    bfloat16 tensors come back as uint16: paddle.save stores them so (the file does not say bf16).
    """
    with open(path, "rb") as f:
        state = _check_state_dict(_unpickle(f.read(), NUMPY_GLOBALS, path), path)
    state.pop(PADDLE_NAME_TABLE, None)
    state = _join_split_arrays(state, path)
    return {key: _check_array(value, key, path) for key, value in state.items()}


# ---- torch's zip format (torch >= 1.6): PREFIX/data.pkl + PREFIX/data/<key> raw storages ----

class _StorageType(typing.NamedTuple):
    """Stands for a torch.<X>Storage class inside a pickle: only its element type matters (immutable)."""
    name: str
    dtype: np.dtype


TORCH_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "<u2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?", "ComplexFloatStorage": "<c8", "ComplexDoubleStorage": "<c16",
}


def _bfloat16_to_float32(raw):
    """bfloat16 is the top half of a float32: widening is exact."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def _strided_copy(storage, offset, size, stride):
    """storage[offset + sum(i_k * stride_k)] as a new array, bounds checked first (as_strided checks nothing)."""
    numbers = (offset, *size, *stride)
    if len(size) != len(stride) or not all(type(n) is int and n >= 0 for n in numbers):
        raise WeightsFormatError(f"bad tensor geometry: offset {offset}, size {size}, stride {stride}")
    if 0 in size:
        return np.empty(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise WeightsFormatError(f"a tensor reaches element {last} of a storage of {storage.size}")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * storage.itemsize for s in stride))
    return np.array(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """torch._utils._rebuild_tensor_v2 in numpy: the tensor's elements, copied out of its storage."""
    if not isinstance(storage, np.ndarray) or not isinstance(size, tuple) or not isinstance(stride, tuple):
        raise WeightsFormatError("_rebuild_tensor_v2 called with something other than a storage")
    return _strided_copy(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    """torch._utils._rebuild_parameter(_with_state): an nn.Parameter is just its data here."""
    if not isinstance(data, np.ndarray):
        raise WeightsFormatError("_rebuild_parameter called with something other than a tensor")
    return data


# Numpy stand-ins for what torch.save'd state dicts reference; nothing from torch is imported.
TORCH_GLOBALS = {
    ("collections", "OrderedDict"): _Sealed(collections.OrderedDict),
    ("torch._utils", "_rebuild_tensor_v2"): _Sealed(_rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): _Sealed(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _Sealed(_rebuild_parameter),
    **{("torch", name): _StorageType(name, np.dtype(dtype)) for name, dtype in TORCH_STORAGE_DTYPES.items()},
}


def _torch_archive_prefix(zf, path):
    """The folder torch.save put everything in ('archive/' today, the file's stem in older versions)."""
    pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise WeightsFormatError(f"{path}: not a torch zip checkpoint (no single */data.pkl)")
    prefix = pickles[0][: -len("data.pkl")]
    if prefix + "byteorder" in zf.namelist() and zf.read(prefix + "byteorder").strip() != b"little":
        raise WeightsFormatError(f"{path}: big-endian torch checkpoints are not supported")
    return prefix


def _storage_loader(zf, prefix, path):
    """persistent_load for ('storage', StorageType, key, location, numel): the storage as a 1-D array."""
    storages = {}

    def persistent_load(pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and type(pid[4]) is int):
            raise WeightsFormatError(f"{path}: unexpected persistent id {str(pid)[:80]}")
        _, stype, key, _location, numel = pid
        if key not in storages:
            try:
                raw = zf.read(f"{prefix}data/{key}")
            except KeyError:
                raise WeightsFormatError(f"{path}: storage {key!r} is missing") from None
            if len(raw) < numel * stype.dtype.itemsize:
                raise WeightsFormatError(f"{path}: storage {key!r} is shorter than its {numel} elements")
            array = np.frombuffer(raw, stype.dtype, count=numel)
            storages[key] = (stype.name, _bfloat16_to_float32(array) if stype.name == "BFloat16Storage" else array)
        if storages[key][0] != stype.name:
            raise WeightsFormatError(f"{path}: storage {key!r} read as two different types")
        return storages[key][1]

    return persistent_load


def read_torch_bin(path):
    """{name: ndarray} of a torch.save'd state dict (pytorch_model.bin), without torch.

    bfloat16 tensors are widened to float32 (exactly); the legacy pre-1.6 non-zip format is refused.
    """
    if not zipfile.is_zipfile(path):
        raise WeightsFormatError(f"{path}: not a torch zip checkpoint (files of torch < 1.6 are not supported)")
    with zipfile.ZipFile(path) as zf:
        prefix = _torch_archive_prefix(zf, path)
        obj = _unpickle(zf.read(prefix + "data.pkl"), TORCH_GLOBALS, path, _storage_loader(zf, prefix, path))
    return {key: _check_array(value, key, path) for key, value in _check_state_dict(obj, path).items()}


# ---- safetensors: plain data, what the project writes ----

def _process_umask():
    umask = os.umask(0o022)  # read once, at import: setting it later would race with other threads' files
    os.umask(umask)
    return umask


UMASK = _process_umask()


def usual_mode(path):
    """Give `path` the mode open() gives new files (0666 less the umask). safetensors 0.8 creates its files
    0600, so users who can read a shared model folder's config.json could not read its weights."""
    os.chmod(path, 0o666 & ~UMASK)


def save_pretrained(model, folder):
    """model.save_pretrained(folder) with the weights in model.safetensors, never a pickle."""
    model.save_pretrained(folder, safe_serialization=True)
    usual_mode(os.path.join(folder, SAFETENSORS))


def write_safetensors(state, path):
    """Write {name: array} to `path` atomically, with the {"format": "np"} metadata PaddleNLP's reader needs
    (it fails on a file without metadata)."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(_check_array(np.asarray(v), k, path)) for k, v in state.items()}
    tmp = f"{path}.tmp"
    try:
        save_file(arrays, tmp, metadata={"format": "np"})
        usual_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_safetensors(path):
    """{name: ndarray} of a .safetensors file (plain data: nothing in it can run)."""
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own SafetensorError for a damaged header
        raise WeightsFormatError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from e


READERS = {SAFETENSORS: read_safetensors, PDPARAMS: read_pdparams, TORCH_BIN: read_torch_bin}


def read_weights(path):
    """{name: ndarray} of a weight file, by its name; never runs code from it."""
    name = os.path.basename(path)
    reader = READERS.get(name) or (read_pdparams if name.endswith(".pdparams") else None)
    if reader is None:
        raise WeightsFormatError(f"{path}: not a weight file this project reads ({', '.join(READERS)})")
    return reader(path)


def refusal(error, path):
    """Why the weight file `path` is not loaded, in one line (an UnsafePickleError or WeightsFormatError)."""
    name = os.path.basename(path)
    if isinstance(error, UnsafePickleError):
        return f"{name} wants to import {error.global_name}; refusing to load it (see README, Security)"
    return f"{name}: {str(error).replace(f'{path}: ', '')}; refusing to load it"


def weights_file(folder):
    """The weight file of a model folder that is read (model.safetensors first), or None."""
    for name in MODEL_WEIGHT_FILES:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None
