"""Unlabelled text the teacher labels: transfer files read into the task's examples, and their overlap with
the texts a run is judged on.

    examples, sources, notes = read_transfer(task, ["unlabelled.csv"], None)
    examples, sources, dropped = screen_overlap(examples, sources, evaluation_keys(task, dev_examples), "drop", "transfer")

A transfer example is {text key: text} with no label: CE never sees it; KD and PT do, through the teacher's
outputs. `sources` holds each example's FILE:LINE, so that an error or a leak names where it came from.
"""
from errors import InputError
from tasks.table_reader import read_table

# Column names tried, in this order, when the transfer files' text columns are not named.
SINGLE_TEXT_COLUMNS = (("text",), ("sentence",), ("text_a",), ("review",))
PAIR_TEXT_COLUMNS = (("text_a", "text_b"), ("sentence1", "sentence2"), ("question1", "question2"))
LABEL_NAMES = ("label", "labels")


def transfer_columns(task, given, columns, path):
    """The columns of one transfer file that hold the task's texts, in the task's order."""
    arity = len(task.text_keys)
    if given:
        wanted = [c.strip() for c in given.split(",")]
        if len(wanted) != arity:
            raise InputError(f"--transfer_text_columns {given}: {task.name} has {arity} text column(s) per example")
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise InputError(f"--transfer_text_columns: no column {missing[0]!r} in {path} "
                             f"(columns: {', '.join(columns)})")
        return wanted
    for candidate in (tuple(task.text_keys),) + (SINGLE_TEXT_COLUMNS if arity == 1 else PAIR_TEXT_COLUMNS):
        if all(c in columns for c in candidate):
            return list(candidate)
    raise InputError(f"--transfer_file {path}: no column {task.text_keys[0]!r} (the task's text) and none of the usual "
                     f"names; name it with --transfer_text_columns (columns: {', '.join(columns)})")


def read_transfer(task, paths, given_columns):
    """(examples, sources, notes): every row of the transfer files as {text key: text}; notes say what was ignored."""
    examples, sources, notes = [], [], []
    for path in paths:
        columns, rows = read_table(path, "--transfer_file")
        text_columns = transfer_columns(task, given_columns, columns, path)
        ignored = [c for c in columns if c in LABEL_NAMES + (task.label_key,) and c not in text_columns]
        if ignored:
            notes.append(f"{path}: its column {ignored[0]!r} is ignored: the teacher labels the transfer set")
        for line, row in rows:
            missing = [c for c in text_columns if c not in row]  # a JSON Lines object without the key
            if missing:
                raise InputError(f"{path}:{line}: no field {missing[0]!r}")
            texts = [row[c] for c in text_columns]
            if not any(t.strip() for t in texts):
                raise InputError(f"{path}:{line}: empty text")
            examples.append(dict(zip(task.text_keys, texts)))
            sources.append(f"{path}:{line}")
    return examples, sources, notes


def text_key(example, keys):
    """What makes two examples the same input: their texts, lower-cased, with whitespace collapsed."""
    return tuple(" ".join(str(example[k]).split()).lower() for k in keys)


def evaluation_keys(task, *splits):
    """The text keys of every example of the evaluation splits (dev, held-out, test)."""
    return {text_key(e, task.text_keys) for split in splits for e in split}


def screen_overlap(examples, sources, eval_keys, policy, what, keys):
    """(examples, sources, number found) after applying --eval_overlap to those whose texts are evaluation texts.

    refuse: InputError naming the first; drop: they are left out; keep: they stay (the count is still reported).
    """
    hits = [i for i, e in enumerate(examples) if text_key(e, keys) in eval_keys]
    if hits and policy == "refuse":
        raise InputError(f"{len(hits)} {what} text(s) are also dev or test texts (the first: {sources[hits[0]]}); "
                         f"they would make the dev score meaningless: remove them, or pass --eval_overlap drop "
                         f"(or keep)")
    if hits and policy == "drop":
        gone = set(hits)
        examples = [e for i, e in enumerate(examples) if i not in gone]
        sources = [s for i, s in enumerate(sources) if i not in gone]
    return examples, sources, len(hits)
