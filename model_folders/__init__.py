"""Model folders: which encoder a folder holds (encoders.py) and its weights read without pickles (safe_weights.py)."""
import os

# A folder's config: config.json, or model_config.json (init_class, init_args) in folders PaddleNLP <= 2.4 wrote.
CONFIG_FILES = ("config.json", "model_config.json")


def config_file(folder):
    """The path of FOLDER's config (the first of CONFIG_FILES there), None when it has none."""
    return next((os.path.join(folder, name) for name in CONFIG_FILES if os.path.isfile(os.path.join(folder, name))),
                None)
