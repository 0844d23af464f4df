"""Writing what a run produces so that a kill at any moment leaves the previous version intact."""
import json
import os
import shutil


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


def save_model_dir(model, tokenizer, final_dir):
    """A save_pretrained folder (config, weights, tokenizer files) ready for pretrained_models/<TASK>/."""
    tmp = final_dir + ".tmp"
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    replace_dir(tmp, final_dir)


def write_json(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
