#!/usr/bin/env bash
# Copy a run's best_model into pretrained_models/TASK/, where the KD and PKD runs look for the teacher.
#   bash scripts/install_model.sh runs/SST-2/teacher SST-2
set -euo pipefail
RUN="${1:?usage: install_model.sh OUTPUT_DIR TASK}" TASK="${2:?usage: install_model.sh OUTPUT_DIR TASK}"
SRC="$(cd "$RUN" 2>/dev/null && pwd)/best_model" || { echo "error: $RUN: no such run folder" >&2; exit 2; }
cd "$(dirname "$0")/.."
[ -f "$SRC/config.json" ] || { echo "error: $SRC/config.json is missing: is $RUN a finished run?" >&2; exit 2; }
# the vocabulary: vocab.txt (BERT, ERNIE, Chinese RoBERTa) or vocab.json (English RoBERTa's BPE)
[ -f "$SRC/vocab.txt" ] || [ -f "$SRC/vocab.json" ] ||
    { echo "error: $SRC has no vocab.txt: is $RUN a finished run?" >&2; exit 2; }
# model.safetensors; model_state.pdparams in runs of older versions (read without unpickling, docs/security.md)
[ -f "$SRC/model.safetensors" ] || [ -f "$SRC/model_state.pdparams" ] ||
    { echo "error: $SRC has no model.safetensors: is $RUN a finished run?" >&2; exit 2; }
DEST="pretrained_models/$TASK"
mkdir -p pretrained_models
rm -rf "$DEST.tmp" && cp -r "$SRC" "$DEST.tmp"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "installed $SRC -> $DEST"
