"""The encoded-split cache gives exactly the examples tokenising gives, and any change of input gives a new entry."""
import logging
import os
import shutil
from types import SimpleNamespace

import pytest

import data
from tasks import benchmarks
from training import inputs
from test_data import LAYOUTS, write_layout


def run_args(data_dir, cache_dir, max_seq_length=32, holdout=0, max_train=0):
    return SimpleNamespace(data_dir=str(data_dir), teacher_cache_dir=str(cache_dir), max_seq_length=max_seq_length,
                           holdout_from_train=holdout, max_train_examples=max_train)


def tokenised_today(args, task, tokenizer):
    """What a run tokenised before the cache existed: load, select, encode."""
    raw = inputs.load_data(args, task)
    splits = ("train", "holdout") if args.holdout_from_train else ("train",) + task.dev_splits
    return {s: data.encode_split(raw[s], task, tokenizer, args.max_seq_length) for s in splits}


@pytest.fixture
def log_text(caplog):
    """The text the run's logger wrote during the test (it does not propagate once a run has set it up)."""
    logger = logging.getLogger("pkd")
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    yield lambda: caplog.text
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from paddlenlp.transformers import BertTokenizer

    return BertTokenizer.from_pretrained(tiny_bert)


@pytest.mark.parametrize("holdout,max_train", [(0, 0), (40, 0), (0, 100), (30, 100)])
def test_cached_splits_are_the_tokenised_splits(sst2_dir, tokenizer, tmp_path, log_text, holdout, max_train):
    task = benchmarks.get_task("sst-2")
    args = run_args(sst2_dir, tmp_path, holdout=holdout, max_train=max_train)
    want = tokenised_today(args, task, tokenizer)
    built, _ = inputs.load_encoded(args, task, tokenizer)
    assert "encoded data: reusing" not in log_text()
    cached, dev_splits = inputs.load_encoded(args, task, tokenizer)
    assert "encoded data: reusing" in log_text()
    assert built == cached == want
    assert set(cached) == {"train", *dev_splits} and dev_splits == (("holdout",) if holdout else ("dev",))
    assert type(cached["train"][0]["input_ids"][0]) is int and type(cached["train"][0]["labels"]) is int


@pytest.mark.parametrize("name", ["rte", "mnli", "chnsenticorp", "cola"])
def test_cached_pairs_and_other_layouts(name, tokenizer, tmp_path):
    task = benchmarks.get_task(name)
    args = run_args(write_layout(tmp_path / name, LAYOUTS[name]), tmp_path / "cache")
    want = tokenised_today(args, task, tokenizer)
    inputs.load_encoded(args, task, tokenizer)
    assert inputs.load_encoded(args, task, tokenizer)[0] == want


def entries(cache_dir):
    return sorted(n for n in os.listdir(os.path.join(cache_dir, "encoded")) if not n.endswith(".lock"))


def test_any_change_of_input_gives_a_new_entry(sst2_dir, tiny_bert, tokenizer, tmp_path):
    from paddlenlp.transformers import BertTokenizer

    task, cache = benchmarks.get_task("sst-2"), tmp_path / "cache"
    copy = shutil.copytree(sst2_dir, tmp_path / "SST-2")
    inputs.load_encoded(run_args(copy, cache), task, tokenizer)
    inputs.load_encoded(run_args(copy, cache), task, tokenizer)
    assert len(entries(cache)) == 1
    inputs.load_encoded(run_args(copy, cache, max_seq_length=16), task, tokenizer)
    inputs.load_encoded(run_args(copy, cache, max_train=50), task, tokenizer)
    with open(copy / "dev.tsv", "a", encoding="utf-8") as f:
        f.write("a good film\t1\n")
    inputs.load_encoded(run_args(copy, cache), task, tokenizer)
    other_vocab = shutil.copytree(tiny_bert, tmp_path / "bert")
    with open(other_vocab / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extra\n")
    inputs.load_encoded(run_args(copy, cache), task, BertTokenizer.from_pretrained(str(other_vocab)))
    assert len(entries(cache)) == 5


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_windows_line_endings_and_a_byte_order_mark_give_the_same_examples(name, tokenizer, tmp_path):
    # The builders strip each row (so the "\r") and skip the header, where the mark stands; CoLA has no
    # header and the mark lands in its first column, which nothing reads.
    task = benchmarks.get_task(name)
    plain = write_layout(tmp_path / "plain", LAYOUTS[name])
    want = tokenised_today(run_args(plain, tmp_path), task, tokenizer)
    for variant, convert in {"crlf": lambda b: b.replace(b"\n", b"\r\n"), "bom": lambda b: b"\xef\xbb\xbf" + b,
                             "both": lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")}.items():
        folder = tmp_path / variant
        folder.mkdir()
        for split in ("train",) + task.dev_splits:
            (folder / f"{split}.tsv").write_bytes(convert(open(benchmarks.split_file(plain, split), "rb").read()))
        got, _ = inputs.load_encoded(run_args(folder, tmp_path / "cache"), task, tokenizer)
        assert got == want, variant
