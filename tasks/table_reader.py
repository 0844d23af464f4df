"""Reading the user's own files: CSV and TSV with a header row, or JSON Lines (one object per line).

Both go through the standard library's `csv` module. CSV fields may be quoted and then hold commas,
tabs, newlines and doubled quotes; a quote out of place is an error naming the line. TSV is one row
per line with tab-separated fields and quotes taken literally, as GLUE's and ChnSentiCorp's files
are written (a text with a tab or a newline in it belongs in a CSV). A UTF-8 byte order mark and
Windows line endings are fine. Every row keeps the line number where it starts, so that a bad value
is reported as FILE:LINE.
"""
import csv
import json
import os

from errors import InputError

# extension -> csv module dialect (None: JSON Lines)
FORMATS = {".csv": dict(delimiter=",", strict=True), ".tsv": dict(delimiter="\t", quoting=csv.QUOTE_NONE),
           ".jsonl": None}


def file_format(path, flag):
    """The csv dialect of `path` by its extension; InputError naming the flag for any other extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise InputError(f"{flag} {path}: unknown extension {ext or '(none)'!r}; use .csv, .tsv or .jsonl")
    return FORMATS[ext]


def read_table(path, flag):
    """(column names, [(line number, {column: value})]) of a CSV, TSV or JSON Lines file."""
    dialect = file_format(path, flag)
    if not os.path.isfile(path):
        raise InputError(f"{flag} {path}: no such file")
    check_utf8(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        columns, rows = _read_jsonl(f, path) if dialect is None else _read_delimited(f, path, dialect)
    if len(set(columns)) != len(columns):
        twice = next(c for c in columns if columns.count(c) > 1)
        raise InputError(f"{path}:1: the column {twice!r} is named twice")
    if not rows:
        raise InputError(f"{path}: no examples")
    return columns, rows


def check_utf8(path):
    """Raise InputError naming the line and byte offset of the first byte that is not UTF-8."""
    offset = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                hint = " (it looks like UTF-16)" if lineno == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
                raise InputError(f"{path}:{lineno}: not valid UTF-8{hint}: byte 0x{raw[e.start]:02x} at byte offset "
                                 f"{offset + e.start} of the file; save it as UTF-8") from None
            offset += len(raw)


def _read_delimited(f, path, dialect):
    reader = csv.reader(f, **dialect)
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
        if any(field.strip() for field in fields):  # not a blank line
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
