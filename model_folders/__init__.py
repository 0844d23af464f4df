"""Model folders: which encoder a folder holds (encoders.py) and its weights read without pickles (safe_weights.py)."""

# A folder's config: config.json, or model_config.json (init_class, init_args) in folders PaddleNLP <= 2.4 wrote.
CONFIG_FILES = ("config.json", "model_config.json")
