#!/usr/bin/env bash
# Creates .venv with the pinned requirements once; sourced by run_demo.sh and run_tests.sh.
# PYTHON=python3.11 by default (the pins are for Python 3.11); VENV=.venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
STAMP="$VENV/.requirements.$(sha1sum "$ROOT/requirements.txt" | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    echo "setting up $VENV with $("$PYTHON" --version) (about a minute)..."
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# Paddle pins OpenMP to one thread when this is unset (1.5x slower on CPU).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
cd "$ROOT"
