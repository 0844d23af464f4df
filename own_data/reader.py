"""Reading the user's own files: CSV and TSV with a header row, or JSON Lines (one object per line).

CSV and TSV go through the standard library's `csv` module: quoted fields may hold commas, tabs
and newlines; a UTF-8 byte order mark and Windows line endings are fine. Every row keeps the line
number where it starts, so that a bad value is reported as FILE:LINE.
"""
import csv
import json
import os

from args import InputError

FORMATS = {".csv": ",", ".tsv": "\t", ".jsonl": None}  # extension -> CSV delimiter (None: JSON Lines)


def file_format(path, flag):
    """The delimiter of `path` by its extension; InputError naming the flag for any other extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"{flag} {path}: unknown extension {ext or '(none)'!r}; use .csv, .tsv or .jsonl")
    return FORMATS[ext]


def read_table(path, flag):
    """(column names, [(line number, {column: value})]) of a CSV, TSV or JSON Lines file."""
    delimiter = file_format(path, flag)
    if not os.path.isfile(path):
        raise InputError(f"{flag} {path}: no such file")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            columns, rows = _read_jsonl(f, path) if delimiter is None else _read_delimited(f, path, delimiter)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not valid UTF-8 (byte 0x{e.object[e.start]:02x}); save it as UTF-8") from None
    if not rows:
        raise InputError(f"{path}: no examples")
    return columns, rows


def _read_delimited(f, path, delimiter):
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file (a header row naming the columns comes first)") from None
    except csv.Error as e:
        raise InputError(f"{path}:1: {e}") from None
    header = [h.strip() for h in header]
    rows, start = [], reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise InputError(f"{path}:{start}: {e}") from None
        if fields:  # a blank line
            if len(fields) != len(header):
                raise InputError(f"{path}:{start}: expected {len(header)} fields (the header's), found {len(fields)}")
            rows.append((start, dict(zip(header, fields))))
        start = reader.line_num + 1
    return header, rows


def _read_jsonl(f, path):
    columns, rows = [], []
    for lineno, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{lineno}: not a JSON object ({e.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{lineno}: not a JSON object (one object per line)")
        columns += [k for k in obj if k not in columns]
        rows.append((lineno, {k: _as_text(v) for k, v in obj.items()}))
    return columns, rows


def _as_text(value):
    """JSON values as they would stand in a CSV: 1 -> "1", 0.5 -> "0.5", true -> "true", null -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
