"""Upgrade a model folder of an older version (model_state.pdparams, a pickle; config.json, or PaddleNLP <= 2.4's
model_config.json) to model.safetensors.

    python scripts/upgrade_model.py OLD_DIR            # in place: model.safetensors replaces model_state.pdparams
    python scripts/upgrade_model.py OLD_DIR NEW_DIR    # into a new folder; OLD_DIR is left as it is

The pickle is read without running anything from it (model_folders/safe_weights.py: a file that asks
for anything but numpy arrays is refused, and nothing is written). The same tensors, names and
values are written to model.safetensors and read back to check, so the upgraded folder predicts
exactly what the old one did. The other files (config.json, vocab.txt, tokenizer files) are kept
or copied as they are. numpy and safetensors only: no paddle needed.
"""
import argparse
import os
import shutil
import sys

import project_root  # noqa: F401  (first: the project on sys.path)

import numpy as np

from model_folders import config_file, safe_weights


class UpgradeError(Exception):
    """A folder that cannot be upgraded: one `error:` line, exit status 2."""


def check_old_dir(old_dir):
    """OLD_DIR must be a model folder with one unsharded model_state.pdparams."""
    if not os.path.isdir(old_dir):
        raise UpgradeError(f"{old_dir}: no such folder")
    if config_file(old_dir) is None:
        raise UpgradeError(f"{old_dir}: no config.json in the folder: not a model folder")
    index = sorted(name for name in os.listdir(old_dir) if name.endswith(".index.json"))
    if index:
        raise UpgradeError(f"{old_dir}: {index[0]}: sharded weights are not supported")
    if not os.path.isfile(os.path.join(old_dir, safe_weights.PDPARAMS)):
        raise UpgradeError(f"{old_dir}: no {safe_weights.PDPARAMS} in the folder")


def read_old_weights(old_dir):
    path = os.path.join(old_dir, safe_weights.PDPARAMS)
    try:
        return safe_weights.read_pdparams(path)
    except (safe_weights.UnsafePickleError, safe_weights.WeightsFormatError) as e:
        raise UpgradeError(f"{old_dir}: {safe_weights.refusal(e, path)}") from e


def write_checked(state, path):
    """Write model.safetensors and read it back: every tensor must come back with the same dtype and values."""
    safe_weights.write_safetensors(state, path)
    again = safe_weights.read_safetensors(path)
    if sorted(again) != sorted(state) or any(again[k].dtype != state[k].dtype or not np.array_equal(again[k], state[k])
                                             for k in state):
        os.remove(path)
        raise UpgradeError(f"{path}: the weights read back differ from the ones written; nothing changed")


def upgrade_in_place(old_dir, state):
    """model.safetensors beside the pickle, then the pickle removed (so no loader can pick it again)."""
    write_checked(state, os.path.join(old_dir, safe_weights.SAFETENSORS))
    os.remove(os.path.join(old_dir, safe_weights.PDPARAMS))


def upgrade_into(old_dir, new_dir, state):
    """NEW_DIR: OLD_DIR's files but the pickle, plus model.safetensors; made beside and renamed into place."""
    if os.path.exists(new_dir) and (not os.path.isdir(new_dir) or os.listdir(new_dir)):
        raise UpgradeError(f"{new_dir}: exists and is not an empty folder")
    tmp = new_dir.rstrip(os.sep) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(old_dir, tmp, ignore=shutil.ignore_patterns("*.pdparams", "*.pdopt"))
        write_checked(state, os.path.join(tmp, safe_weights.SAFETENSORS))
        if os.path.isdir(new_dir):
            os.rmdir(new_dir)
        os.rename(tmp, new_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def upgrade(old_dir, new_dir=None):
    """Upgrade OLD_DIR (in place, or into NEW_DIR); returns the line to print."""
    if os.path.isfile(os.path.join(old_dir, safe_weights.SAFETENSORS)):  # what every loader reads first
        return f"{old_dir} already holds {safe_weights.SAFETENSORS}: nothing to upgrade"
    check_old_dir(old_dir)
    state = read_old_weights(old_dir)
    if new_dir is None:
        upgrade_in_place(old_dir, state)
        return (f"upgraded {old_dir}: {safe_weights.SAFETENSORS} ({len(state)} tensors) replaces "
                f"{safe_weights.PDPARAMS}")
    upgrade_into(old_dir, new_dir, state)
    return f"upgraded {old_dir} -> {new_dir}: {safe_weights.SAFETENSORS} ({len(state)} tensors)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old_dir", metavar="OLD_DIR")
    parser.add_argument("new_dir", metavar="NEW_DIR", nargs="?", default=None)
    args = parser.parse_args(argv)
    try:
        print(upgrade(args.old_dir, args.new_dir))
    except (UpgradeError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
