"""Crash-safe saving: best_model, results.json and resumable training checkpoints.

Everything is written to a temporary name and renamed into place, so a kill at any moment
leaves the previous version intact. A checkpoint holds no pickle: weights and optimizer
moments are .npz arrays (loaded with allow_pickle=False), everything else JSON, and a
manifest with each file's size and sha256 is written last; a checkpoint whose manifest is
missing or does not match its files is reported and never loaded.
"""
import hashlib
import json
import os
import re
import shutil

import numpy as np
import paddle

from errors import CheckpointError, InputError
from model_folders import safe_weights

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
MANIFEST = "manifest.json"


def replace_dir(tmp_dir, final_dir):
    """Move a fully written `tmp_dir` into place; the old `final_dir` survives until the switch."""
    old = final_dir + ".old"
    if os.path.isdir(old):
        shutil.rmtree(old)
    if os.path.isdir(final_dir):
        os.rename(final_dir, old)
    os.rename(tmp_dir, final_dir)
    if os.path.isdir(old):
        shutil.rmtree(old)


def _write_dir_atomically(final_dir, write):
    """Call write(tmp_dir), then rename; on any error remove the partial folder and raise CheckpointError."""
    tmp = final_dir + ".tmp"
    try:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        os.makedirs(tmp)
        write(tmp)
        replace_dir(tmp, final_dir)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"could not write {final_dir}: {e.strerror or e}") from e


TASK_FILE = "task.json"  # the task a model was trained on (data.Task.describe): predict.py needs no task flags


def save_model_dir(model, tokenizer, final_dir, task_info=None):
    """A save_pretrained folder (config, model.safetensors, tokenizer files, task.json) ready for
    pretrained_models/<TASK>/.

    The class names go into config.json too (id2label, label2id), where other tools look for them.
    The weights are safetensors, not PaddleNLP's default model_state.pdparams: a pickle runs code when
    it is loaded, and these folders are passed around (see model_folders/safe_weights.py).
    """

    def write(tmp):
        if task_info and task_info.get("labels"):
            model.config.id2label = dict(enumerate(task_info["labels"]))
            model.config.label2id = {label: i for i, label in enumerate(task_info["labels"])}
        safe_weights.save_pretrained(model, tmp)
        tokenizer.save_pretrained(tmp)
        if task_info:
            write_json(task_info, os.path.join(tmp, TASK_FILE))

    _write_dir_atomically(final_dir, write)


def write_json(obj, path):
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise CheckpointError(f"could not write {path}: {e.strerror or e}") from e


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def optimizer_arrays(optimizer, model):
    """Optimizer moments keyed by structured parameter names (internal names change between processes)."""
    internal = {p.name: n for n, p in model.named_parameters()}
    arrays, extra = {}, {}
    for key, value in optimizer.state_dict().items():
        if not isinstance(value, paddle.Tensor):
            extra[key] = value
            continue
        param = next((p for p in internal if key.startswith(p + "_")), None)
        if param is None:
            raise CheckpointError(f"optimizer state {key} matches no parameter")
        arrays[internal[param] + "|" + key[len(param) + 1:]] = value.numpy()
    return arrays, extra


def optimizer_state_from(arrays, extra, model):
    by_name = {n: p.name for n, p in model.named_parameters()}
    state = dict(extra)
    for key, value in arrays.items():
        name, suffix = key.split("|", 1)
        state[f"{by_name[name]}_{suffix}"] = paddle.to_tensor(value)
    return state


def save_checkpoint(output_dir, step, model, optimizer, trainer_state):
    """OUTPUT_DIR/checkpoint-STEP: model.npz, optimizer.npz, optimizer.json, trainer_state.json, manifest.json."""

    def write(tmp):
        np.savez(os.path.join(tmp, "model.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
        arrays, extra = optimizer_arrays(optimizer, model)
        np.savez(os.path.join(tmp, "optimizer.npz"), **arrays)
        for name, obj in (("optimizer.json", extra), ("trainer_state.json", trainer_state)):
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(obj, f, indent=1)
        files = sorted(os.listdir(tmp))
        manifest = {f: {"size": os.path.getsize(os.path.join(tmp, f)), "sha256": file_sha256(os.path.join(tmp, f))}
                    for f in files}
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1)

    path = os.path.join(output_dir, f"checkpoint-{step}")
    _write_dir_atomically(path, write)
    return path


def list_checkpoints(output_dir):
    """Checkpoint folders, newest first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(output_dir) if (m := CHECKPOINT_RE.match(name))]
    return [os.path.join(output_dir, name) for _, name in sorted(found, reverse=True)]


def verify_checkpoint(path):
    """None when every file matches the manifest, else the reason it cannot be trusted."""
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.isfile(manifest_path):
        return "no manifest (incomplete write)"
    try:
        manifest = json.load(open(manifest_path, encoding="utf-8"))
    except ValueError:
        return "unreadable manifest"
    for name, meta in manifest.items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            return f"{name} is missing"
        if os.path.getsize(file) != meta["size"] or file_sha256(file) != meta["sha256"]:
            return f"{name} does not match its checksum"
    return None


def load_checkpoint(path, model, optimizer):
    """Restore model and optimizer (scheduler included); returns the trainer state dict."""
    with np.load(os.path.join(path, "model.npz"), allow_pickle=False) as weights:
        model.set_state_dict({k: weights[k] for k in weights.files})
    with np.load(os.path.join(path, "optimizer.npz"), allow_pickle=False) as arrays:
        extra = json.load(open(os.path.join(path, "optimizer.json"), encoding="utf-8"))
        optimizer.set_state_dict(optimizer_state_from({k: arrays[k] for k in arrays.files}, extra, model))
    return json.load(open(os.path.join(path, "trainer_state.json"), encoding="utf-8"))


def prune_checkpoints(output_dir, keep):
    for path in list_checkpoints(output_dir)[keep:]:
        shutil.rmtree(path, ignore_errors=True)


def resume_state(output_dir, config, model, optimizer, required, log, defaults=None):
    """Load the newest intact checkpoint of this same run into model and optimizer; its trainer state, or None.

    Damaged checkpoints are reported and skipped; one made with other run-defining flags is an
    error (mixing two runs silently would be worse than stopping). A key a checkpoint does not have (made
    before the flag existed) counts as `defaults`' value for it.
    """

    for path in list_checkpoints(output_dir):
        problem = verify_checkpoint(path)
        if problem:
            log.warning("not resuming from %s: %s", path, problem)
            continue
        saved = {**(defaults or {}), **json.load(open(os.path.join(path, "trainer_state.json"), encoding="utf-8"))["config"]}
        diff = [f"--{k} {saved.get(k)} vs {v}" for k, v in config.items() if saved.get(k) != v]
        if diff:
            raise InputError(f"--output_dir {output_dir} holds a checkpoint of a different run "
                             f"({'; '.join(diff)}): use another --output_dir or remove its checkpoint-* folders")
        state = load_checkpoint(path, model, optimizer)
        log.info("resumed from %s (step %d)", path, state["step"])
        return state
    if required:
        raise InputError(f"--resume: no intact checkpoint in {output_dir}")
    return None


def read_task_info(model_dir):
    """task.json of a model folder (data.Task.describe()), or None for folders written before it existed."""
    path = os.path.join(model_dir, TASK_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
