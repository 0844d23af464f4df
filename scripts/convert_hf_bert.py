"""Convert a Hugging Face BERT checkpoint folder into a PaddleNLP save_pretrained folder.

    python scripts/convert_hf_bert.py HF_DIR OUT_DIR

HF_DIR holds config.json, vocab.txt and model.safetensors or pytorch_model.bin, both read with
numpy (no torch needed; the .bin, a pickle, through model_folders/safe_weights.py, which refuses one
that would run code). OUT_DIR gets config.json, model.safetensors and the tokenizer files, and
loads with `--model_name_or_path OUT_DIR`.
Only the BERT body is converted (embeddings, encoder, pooler); task heads are dropped, since
every run here puts a fresh classifier on top. BERT checkpoints only: ERNIE and RoBERTa models are used
from PaddleNLP's own folders (README, Other encoders); a config.json of another model_type is refused.
"""
import argparse
import json
import os
import re
import sys

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)

import numpy as np

from model_folders import safe_weights

CONFIG_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id")

# HF name (after the optional "bert." prefix) -> (Paddle name, transpose): Paddle Linear weights are [in, out].
LAYER_RULES = [
    (r"attention\.self\.query\.(weight|bias)", "self_attn.q_proj.{}"),
    (r"attention\.self\.key\.(weight|bias)", "self_attn.k_proj.{}"),
    (r"attention\.self\.value\.(weight|bias)", "self_attn.v_proj.{}"),
    (r"attention\.output\.dense\.(weight|bias)", "self_attn.out_proj.{}"),
    (r"attention\.output\.LayerNorm\.(weight|bias|gamma|beta)", "norm1.{}"),
    (r"intermediate\.dense\.(weight|bias)", "linear1.{}"),
    (r"output\.dense\.(weight|bias)", "linear2.{}"),
    (r"output\.LayerNorm\.(weight|bias|gamma|beta)", "norm2.{}"),
]
LAYER_NORM_NAMES = {"gamma": "weight", "beta": "bias"}


class ConversionError(Exception):
    pass


def paddle_name(hf_name):
    """(paddle name, transpose?) for a BERT-body tensor, or None for tensors that are not converted."""
    name = hf_name[len("bert."):] if hf_name.startswith("bert.") else hf_name
    if name.startswith("embeddings."):
        if name == "embeddings.position_ids":
            return None
        m = re.fullmatch(r"embeddings\.LayerNorm\.(weight|bias|gamma|beta)", name)
        if m:
            return f"embeddings.layer_norm.{LAYER_NORM_NAMES.get(m.group(1), m.group(1))}", False
        return name, False
    m = re.fullmatch(r"encoder\.layer\.(\d+)\.(.+)", name)
    if m:
        for pattern, target in LAYER_RULES:
            part = re.fullmatch(pattern, m.group(2))
            if part:
                kind = LAYER_NORM_NAMES.get(part.group(1), part.group(1))
                return f"encoder.layers.{m.group(1)}.{target.format(kind)}", kind == "weight" and "norm" not in target
        raise ConversionError(f"unknown encoder tensor {hf_name}")
    if name in ("pooler.dense.weight", "pooler.dense.bias"):
        return name, name.endswith("weight")
    return None  # heads: cls.*, classifier.*, qa_outputs.* ...


def convert_state(hf_state):
    """{paddle name: float32 array} from {HF name: array}."""
    out = {}
    for hf_name, value in hf_state.items():
        target = paddle_name(hf_name)
        if target is None:
            continue
        name, transpose = target
        value = np.asarray(value, dtype=np.float32)
        out[name] = np.ascontiguousarray(value.T) if transpose else value
    return out


def read_hf_state(hf_dir):
    """HF_DIR's weights, model.safetensors first; a pytorch_model.bin is read without torch and without
    running anything from it."""
    for name in (safe_weights.SAFETENSORS, safe_weights.TORCH_BIN):
        path = os.path.join(hf_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            return safe_weights.read_weights(path)
        except (safe_weights.UnsafePickleError, safe_weights.WeightsFormatError) as e:
            raise ConversionError(f"{hf_dir}: {safe_weights.refusal(e, path)}") from e
    raise ConversionError(f"{hf_dir}: no model.safetensors or pytorch_model.bin")


def read_hf_config(hf_dir):
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise ConversionError(f"{hf_dir}: no config.json")
    config = json.load(open(path, encoding="utf-8"))
    if config.get("model_type", "bert") != "bert":
        raise ConversionError(f"{path}: model_type {config['model_type']!r} is not bert")
    return {k: config[k] for k in CONFIG_KEYS if k in config}


def do_lower_case(hf_dir):
    path = os.path.join(hf_dir, "tokenizer_config.json")
    if os.path.isfile(path):
        return bool(json.load(open(path, encoding="utf-8")).get("do_lower_case", True))
    return True


def convert(hf_dir, out_dir):
    """Write OUT_DIR (config, weights, tokenizer); returns the PaddleNLP BertModel."""
    from paddlenlp.transformers import BertConfig, BertModel, BertTokenizer

    vocab = os.path.join(hf_dir, "vocab.txt")
    if not os.path.isfile(vocab):
        raise ConversionError(f"{hf_dir}: no vocab.txt")
    model = BertModel(BertConfig(**read_hf_config(hf_dir)))
    state = convert_state(read_hf_state(hf_dir))
    expected = set(model.state_dict())
    if set(state) != expected:
        raise ConversionError(f"{hf_dir}: tensors do not match the config: missing "
                              f"{sorted(expected - set(state))[:3]}, unexpected {sorted(set(state) - expected)[:3]}")
    model.set_state_dict(state)
    safe_weights.save_pretrained(model, out_dir)
    BertTokenizer(vocab, do_lower_case=do_lower_case(hf_dir)).save_pretrained(out_dir)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hf_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)
    try:
        convert(args.hf_dir, args.out_dir)
    except ConversionError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    print(f"converted {args.hf_dir} -> {args.out_dir}")


if __name__ == "__main__":
    main()
