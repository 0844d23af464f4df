#!/usr/bin/env bash
# Creates a virtualenv with a pinned stack once; sourced by the scripts that run the project's Python.
#   REQUIREMENTS=requirements.txt (default: Paddle 3.x, Python 3.11-3.13)
#              | requirements-paddle2.6.txt (Paddle 2.6.2, Python 3.11-3.12)
#   PYTHON=python3.11 by default (any supported interpreter: PYTHON=python3.13)
#   VENV=.venv by default; one venv holds one stack: use another VENV for another stack or Python.
#   PADDLE_GPU=cu118 | cu126 | cu129: Paddle's GPU build for that CUDA instead of the CPU wheel (from
#              Paddle's package index for 3.x; the legacy 2.6.2 GPU wheel is PyPI's, cu118 only).
# The requirements files are complete locks, installed with --no-deps (see requirements.txt);
# requirements-deploy.txt (ONNX export, int8, onnxruntime) is installed after the stack's lock, the same way.
# An environment you activated yourself (virtualenv or conda, e.g. with paddlepaddle-gpu) that can
# import paddle and paddlenlp is used as it is, unless VENV is given.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${DRY_RUN:-0}" = 1 ]; then  # the experiments' DRY_RUN prints commands and runs none: no environment needed
    cd "$ROOT"
    return 0 2> /dev/null || exit 0
fi
ACTIVE="${VIRTUAL_ENV:-${CONDA_PREFIX:-}}"
if [ -z "${VENV:-}" ] && [ -n "$ACTIVE" ] && [ "$ACTIVE" != "$ROOT/.venv" ] \
        && python -c "import paddle, paddlenlp" > /dev/null 2>&1; then
    echo "using the active environment $ACTIVE ($(python --version 2>&1))"
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
    cd "$ROOT"
    return 0 2> /dev/null || exit 0
fi
VENV="$(realpath -m "${VENV:-$ROOT/.venv}")"  # absolute: a relative PATH entry would break at the scripts' next cd
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
REQUIREMENTS="${REQUIREMENTS:-requirements.txt}"
case "$REQUIREMENTS" in /*) ;; *) REQUIREMENTS="$ROOT/$REQUIREMENTS" ;; esac
if [ ! -f "$REQUIREMENTS" ]; then
    echo "error: REQUIREMENTS=$REQUIREMENTS: no such file" >&2
    exit 2
fi
if ! PY_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; then
    echo "error: PYTHON=$PYTHON: not a Python interpreter" >&2
    exit 2
fi
DEPLOY_REQUIREMENTS="$ROOT/requirements-deploy.txt"
STAMP="$VENV/.stack.py$PY_VERSION.$( (cat "$REQUIREMENTS" "$DEPLOY_REQUIREMENTS"; echo "${PADDLE_GPU:-cpu}") | sha1sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
    if [ -d "$VENV" ] && ! ls "$VENV"/.stack.py"$PY_VERSION".* > /dev/null 2>&1; then
        rm -rf "$VENV"  # another Python's venv, or an older layout: start afresh
    fi
    echo "setting up $VENV: Python $PY_VERSION, $(basename "$REQUIREMENTS") (a minute or two)..."
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$REQUIREMENTS"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$DEPLOY_REQUIREMENTS"
    if [ -n "${PADDLE_GPU:-}" ]; then
        PADDLE_VERSION="$(sed -n 's/^paddlepaddle==//p' "$REQUIREMENTS")"
        case "$PADDLE_GPU:$PADDLE_VERSION" in
            cu118:2.*) INDEX=() ;;
            cu118:3.* | cu126:3.* | cu129:3.*)
                INDEX=(--extra-index-url "https://www.paddlepaddle.org.cn/packages/stable/$PADDLE_GPU/") ;;
            *) echo "error: PADDLE_GPU=$PADDLE_GPU: no such build of paddlepaddle $PADDLE_VERSION" \
                    "(3.x: cu118, cu126, cu129; 2.6: cu118)" >&2; exit 2 ;;
        esac
        "$VENV/bin/pip" uninstall -q -y paddlepaddle
        "$VENV/bin/pip" install -q --disable-pip-version-check "paddlepaddle-gpu==$PADDLE_VERSION" "${INDEX[@]}"
    fi
    rm -f "$VENV"/.stack.*
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
# Paddle pins OpenMP to one thread when this is unset (1.5x slower on CPU).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
cd "$ROOT"
