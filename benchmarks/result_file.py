"""Where a benchmark's numbers go: one JSON file, written whole (an interrupted run leaves the previous file)."""
import json
import os

from runtime.checkpoint import write_json


def save(result, path, echo=False):
    """RESULT as JSON at PATH (its folder made), replaced atomically; with ECHO also printed, for the console."""
    if echo:
        print(json.dumps(result, indent=1))
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_json(result, path)
