"""The HF -> PaddleNLP converter, checked against an independent numpy forward of the HF weights."""
import json
import math
import os
import sys

import numpy as np
import paddle
import pytest

import convert_hf_bert as conv
from model_folders import safe_weights
from weight_files import SYSTEM, Payload, write_torch_state

H, HEADS, INTER, LAYERS, VOCAB = 16, 4, 24, 2, 30


def erf_gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def hf_linear(x, state, name):  # HF/PyTorch weights are [out, in]
    return x @ state[name + ".weight"].T + state[name + ".bias"]


def numpy_bert(state, ids, mask, heads=HEADS):
    """Hidden states of every layer, straight from the HF formulas and names (entry 0 = embeddings)."""
    s = {k[len("bert."):] if k.startswith("bert.") else k: v.astype(np.float64) for k, v in state.items()}
    pos = np.arange(ids.shape[1])
    x = s["embeddings.word_embeddings.weight"][ids] + s["embeddings.position_embeddings.weight"][pos] \
        + s["embeddings.token_type_embeddings.weight"][np.zeros_like(ids)]
    x = layer_norm(x, s["embeddings.LayerNorm.weight"], s["embeddings.LayerNorm.bias"])
    out = [x]
    b, t, h = x.shape
    d = h // heads
    bias = (1.0 - mask[:, None, None, :]) * -1e4
    for i in range(len([k for k in s if k.endswith("attention.self.query.weight")])):
        p = f"encoder.layer.{i}."

        def split(y):
            return y.reshape(b, t, heads, d).transpose(0, 2, 1, 3)

        q, k, v = (split(hf_linear(x, s, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        x = layer_norm(x + hf_linear(ctx, s, p + "attention.output.dense"),
                       s[p + "attention.output.LayerNorm.weight"], s[p + "attention.output.LayerNorm.bias"])
        ff = hf_linear(erf_gelu(hf_linear(x, s, p + "intermediate.dense")), s, p + "output.dense")
        x = layer_norm(x + ff, s[p + "output.LayerNorm.weight"], s[p + "output.LayerNorm.bias"])
        out.append(x)
    return out


def random_hf_checkpoint(folder, prefix="", with_head=False):
    rng = np.random.RandomState(0)
    shapes = {"embeddings.word_embeddings.weight": (VOCAB, H), "embeddings.position_embeddings.weight": (64, H),
              "embeddings.token_type_embeddings.weight": (2, H), "embeddings.LayerNorm.weight": (H,),
              "embeddings.LayerNorm.bias": (H,), "pooler.dense.weight": (H, H), "pooler.dense.bias": (H,)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            shapes.update({p + f"attention.self.{n}.weight": (H, H), p + f"attention.self.{n}.bias": (H,)})
        shapes.update({p + "attention.output.dense.weight": (H, H), p + "attention.output.dense.bias": (H,),
                       p + "attention.output.LayerNorm.weight": (H,), p + "attention.output.LayerNorm.bias": (H,),
                       p + "intermediate.dense.weight": (INTER, H), p + "intermediate.dense.bias": (INTER,),
                       p + "output.dense.weight": (H, INTER), p + "output.dense.bias": (H,),
                       p + "output.LayerNorm.weight": (H,), p + "output.LayerNorm.bias": (H,)})
    state = {prefix + k: (rng.randn(*v) * 0.3 + (1.0 if k.endswith("LayerNorm.weight") else 0.0)).astype(np.float32)
             for k, v in shapes.items()}
    state[prefix + "embeddings.position_ids"] = np.arange(64, dtype=np.int64)[None]
    if with_head:
        state["classifier.weight"] = rng.randn(2, H).astype(np.float32)
    from safetensors.numpy import save_file

    os.makedirs(folder, exist_ok=True)
    save_file(state, os.path.join(folder, "model.safetensors"))
    json.dump({"model_type": "bert", "vocab_size": VOCAB, "hidden_size": H, "num_hidden_layers": LAYERS,
               "num_attention_heads": HEADS, "intermediate_size": INTER, "hidden_act": "gelu",
               "max_position_embeddings": 64, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0},
              open(os.path.join(folder, "config.json"), "w"))
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(VOCAB - 5)]
    open(os.path.join(folder, "vocab.txt"), "w").write("\n".join(words) + "\n")
    return state


@pytest.mark.parametrize("prefix,with_head", [("", False), ("bert.", True)])
def test_converted_model_matches_numpy_forward(tmp_path, prefix, with_head):
    from paddlenlp.transformers import BertModel, BertTokenizer

    state = random_hf_checkpoint(str(tmp_path / "hf"), prefix, with_head)
    conv.convert(str(tmp_path / "hf"), str(tmp_path / "pd"))
    model = BertModel.from_pretrained(str(tmp_path / "pd"))
    model.eval()
    ids = np.array([[2, 7, 9, 11, 3, 0], [2, 5, 3, 0, 0, 0]])
    mask = (ids != 0).astype(np.float64)
    with paddle.no_grad():
        out = model(paddle.to_tensor(ids), attention_mask=paddle.to_tensor(mask.astype("float32")),
                    output_hidden_states=True, return_dict=True)
    expected = numpy_bert(state, ids, mask)
    assert len(out.hidden_states) == LAYERS + 1
    for got, want in zip(out.hidden_states, expected):
        np.testing.assert_allclose(got.numpy()[mask > 0], want[mask > 0], atol=1e-4)
    assert BertTokenizer.from_pretrained(str(tmp_path / "pd")).convert_tokens_to_ids(["w3"]) == [8]


def test_names_and_transposes():
    assert conv.paddle_name("bert.encoder.layer.3.attention.self.query.weight") == \
        ("encoder.layers.3.self_attn.q_proj.weight", True)
    assert conv.paddle_name("encoder.layer.0.output.LayerNorm.gamma") == ("encoder.layers.0.norm2.weight", False)
    assert conv.paddle_name("encoder.layer.0.intermediate.dense.bias") == ("encoder.layers.0.linear1.bias", False)
    assert conv.paddle_name("embeddings.position_ids") is None
    assert conv.paddle_name("cls.predictions.bias") is None


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(conv.ConversionError, match="no vocab.txt"):
        conv.convert(str(tmp_path), str(tmp_path / "out"))
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(conv.ConversionError, match="no config.json"):
        conv.convert(str(tmp_path), str(tmp_path / "out"))


def hf_checkpoint_as_torch_bin(folder, extra=None):
    """random_hf_checkpoint's folder with its weights in pytorch_model.bin (written without torch) instead."""
    state = random_hf_checkpoint(folder, "bert.", with_head=True)
    os.remove(os.path.join(folder, "model.safetensors"))
    write_torch_state(os.path.join(folder, "pytorch_model.bin"), state, extra)


def test_pytorch_bin_converts_without_torch_to_the_same_weights(tmp_path):
    random_hf_checkpoint(str(tmp_path / "st"), "bert.", with_head=True)
    conv.convert(str(tmp_path / "st"), str(tmp_path / "from_st"))
    hf_checkpoint_as_torch_bin(str(tmp_path / "bin"))
    conv.convert(str(tmp_path / "bin"), str(tmp_path / "from_bin"))
    assert "torch" not in sys.modules
    assert "model.safetensors" in os.listdir(tmp_path / "from_bin")
    assert not any(f.endswith((".pdparams", ".bin")) for f in os.listdir(tmp_path / "from_bin"))
    a, b = (safe_weights.read_safetensors(str(tmp_path / d / "model.safetensors")) for d in ("from_st", "from_bin"))
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_hostile_pytorch_bin_is_refused_before_it_runs(tmp_path, capsys):
    hf, marker = str(tmp_path / "hf"), tmp_path / "MARKER"
    hf_checkpoint_as_torch_bin(hf, {"evil": Payload(f"touch {marker}")})
    with pytest.raises(SystemExit) as e:
        conv.main([hf, str(tmp_path / "out")])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == (f"error: {hf}: pytorch_model.bin wants to import {SYSTEM}; "
                                               "refusing to load it (see README, Security)")
    assert not marker.exists() and not (tmp_path / "out").exists()
