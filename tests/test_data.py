"""Every task's official file layout loads through PaddleNLP's builder; bad files are named with their line."""
import os

import numpy as np
import pytest

import data
from tasks import benchmarks
from errors import InputError

# (split -> (header or None, rows)), in each task's official column layout.
MNLI_DEV_HEADER = ("index\tpromptID\tpairID\tgenre\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2\t"
                   "label1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label")


def mnli_dev_row(i, label):
    return f"{i}\t1\t1a\tfiction\t(x)\t(y)\t(X)\t(Y)\tpremise {i}\thypothesis {i}\t{label}\t{label}\t" \
           f"{label}\t{label}\t{label}\t{label}"


LAYOUTS = {
    "sst-2": {"train": ("sentence\tlabel", ["a fine film\t1", "a dull film\t0"]),
              "dev": ("sentence\tlabel", ["good\t1", "bad\t0", "okay\t1"])},
    "cola": {"train": (None, ["gj04\t1\t\tThe book was read.", "gj04\t0\t*\tBook the was read."]),
             "dev": (None, ["gj04\t1\t\tShe left.", "gj04\t0\t*\tLeft she the."])},
    "mrpc": {"train": ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", ["1\t1\t2\tHe ran.\tHe was running.",
                                                                       "0\t3\t4\tIt rained.\tShe sang."]),
             "dev": ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", ["1\t5\t6\tA cat.\tA kitten."])},
    "qqp": {"train": ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate",
                      ["1\t1\t2\tHow to cook?\tHow do I cook?\t1", "2\t3\t4\tWhy sky blue?\tWho won?\t0"]),
            "dev": ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", ["3\t5\t6\tWhat is AI?\tDefine AI?\t1"])},
    "rte": {"train": ("index\tsentence1\tsentence2\tlabel", ["0\tA man sleeps.\tA man rests.\tentailment",
                                                             "1\tA dog.\tA car.\tnot_entailment"]),
            "dev": ("index\tsentence1\tsentence2\tlabel", ["0\tIt is day.\tIt is night.\tnot_entailment"])},
    "qnli": {"train": ("index\tquestion\tsentence\tlabel", ["0\tWho?\tHe did.\tentailment",
                                                            "1\tWhen?\tBlue.\tnot_entailment"]),
             "dev": ("index\tquestion\tsentence\tlabel", ["0\tWhere?\tHere.\tentailment"])},
    "mnli": {"train": ("index\tpromptID\tpairID\tgenre\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2\t"
                       "label1\tgold_label",
                       ["0\t1\t1a\tgov\t(x)\t(y)\t(X)\t(Y)\tA.\tB.\tneutral\tneutral",
                        "1\t1\t1b\tgov\t(x)\t(y)\t(X)\t(Y)\tC.\tD.\tentailment\tentailment"]),
             "dev_matched": (MNLI_DEV_HEADER, [mnli_dev_row(0, "contradiction"), mnli_dev_row(1, "entailment")]),
             "dev_mismatched": (MNLI_DEV_HEADER, [mnli_dev_row(2, "neutral")])},
    "wnli": {"train": ("index\tsentence1\tsentence2\tlabel", ["0\tI put the cake in the box.\tThe box was put.\t0",
                                                              "1\tSam thanked Tom.\tSam was grateful.\t1"]),
             "dev": ("index\tsentence1\tsentence2\tlabel", ["0\tThe cup fell.\tThe cup broke.\t0"])},
    "chnsenticorp": {"train": ("label\ttext_a", ["1\t这个酒店很好", "0\t房间太小了"]),
                     "dev": ("qid\tlabel\ttext_a", ["0\t1\t服务不错", "1\t0\t不推荐"])},
}


def write_layout(folder, files):
    os.makedirs(folder, exist_ok=True)
    for split, (header, rows) in files.items():
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in ([header] if header else []) + rows))
    return str(folder)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_official_layout_loads(name, tmp_path):
    task = benchmarks.get_task(name)
    folder = write_layout(tmp_path / name, LAYOUTS[name])
    splits = ("train",) + task.dev_splits
    loaded = benchmarks.load_splits(task, splits, folder)
    for split in splits:
        rows = LAYOUTS[name][split][1]
        assert len(loaded[split]) == len(rows)
        for example in loaded[split]:
            assert all(example[k].strip() for k in task.text_keys)
            assert 0 <= int(example[task.label_key]) < len(task.labels)


def test_label_strings_map_to_class_ids_in_the_builders_order(tmp_path):
    task = benchmarks.get_task("rte")
    loaded = benchmarks.load_splits(task, ("train",), write_layout(tmp_path / "rte", LAYOUTS["rte"]))
    assert [e["labels"] for e in loaded["train"]] == [0, 1]  # entailment, not_entailment


def test_task_name_is_case_insensitive():
    assert benchmarks.get_task("SST-2") is benchmarks.get_task("sst-2")
    assert benchmarks.get_task("ChnSentiCorp").dataset == "chnsenticorp"
    with pytest.raises(InputError):
        benchmarks.get_task("sst-5")


@pytest.mark.parametrize("name,split,bad_row,message", [
    ("sst-2", "train", "too few columns", "expected 2 tab-separated columns"),
    ("sst-2", "train", "a film\t7", "label '7'"),
    ("sst-2", "train", " \t1", "expected 2 tab-separated columns"),  # the builder strips the row first
    ("qqp", "train", "9\t1\t2\t \t\t1", "empty text"),
    ("qqp", "train", "1\t1\t2\tonly one question\t1", "expected 6"),
    ("chnsenticorp", "dev", "1\t好", "expected 3"),
])
def test_malformed_row_is_reported_with_file_and_line(tmp_path, name, split, bad_row, message):
    files = {s: (h, list(rows)) for s, (h, rows) in LAYOUTS[name].items()}
    files[split][1].insert(1, bad_row)
    folder = write_layout(tmp_path / name, files)
    header_lines = 1 if files[split][0] else 0
    task = benchmarks.get_task(name)
    with pytest.raises(InputError) as err:
        benchmarks.load_splits(task, ("train",) + task.dev_splits, folder)
    assert f"{split}.tsv:{header_lines + 2}:" in str(err.value)
    assert message in str(err.value)


def test_a_file_that_is_not_utf8_is_reported_with_line_and_byte_offset(tmp_path):
    task = benchmarks.get_task("sst-2")
    folder = write_layout(tmp_path / "a", LAYOUTS["sst-2"])
    train = os.path.join(folder, "train.tsv")
    with open(train, "ab") as f:
        f.write("un film tr\u00e8s dr\u00f4le\t1\n".encode("latin-1"))  # a Latin-1 line appended to a UTF-8 file
    offset = open(train, "rb").read().index(b"\xe8")
    with pytest.raises(InputError) as err:
        benchmarks.load_splits(task, ("train", "dev"), folder)
    assert str(err.value) == f"{train}:4: not valid UTF-8: byte 0xe8 at byte offset {offset} of the file; " \
                             "save it as UTF-8"
    with open(train, "w", encoding="utf-16") as f:
        f.write("sentence\tlabel\na fine film\t1\n")
    with pytest.raises(InputError, match=r"train.tsv:1: not valid UTF-8 \(it looks like UTF-16\): byte 0xff at "
                                         r"byte offset 0 of the file"):
        benchmarks.load_splits(task, ("train", "dev"), folder)


def test_missing_split_and_empty_split_are_reported(tmp_path):
    task = benchmarks.get_task("sst-2")
    folder = write_layout(tmp_path / "a", {"train": LAYOUTS["sst-2"]["train"]})
    with pytest.raises(InputError, match="missing dev.tsv"):
        benchmarks.load_splits(task, ("train", "dev"), folder)
    folder = write_layout(tmp_path / "b", {"train": LAYOUTS["sst-2"]["train"], "dev": ("sentence\tlabel", [])})
    with pytest.raises(InputError, match="no examples"):
        benchmarks.load_splits(task, ("train", "dev"), folder)
    with pytest.raises(InputError, match="no such folder"):
        benchmarks.load_splits(task, ("train", "dev"), str(tmp_path / "nowhere"))


def test_wrong_task_for_the_files_is_reported(tmp_path):
    folder = write_layout(tmp_path / "sst", LAYOUTS["sst-2"])
    with pytest.raises(InputError, match="expected 6 tab-separated columns"):
        benchmarks.load_splits(benchmarks.get_task("qqp"), ("train", "dev"), folder)


def test_pairs_are_tokenised_as_pairs(tiny_bert, tmp_path):
    from paddlenlp.transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(tiny_bert)
    task = benchmarks.get_task("rte")
    loaded = benchmarks.load_splits(task, ("train",), write_layout(tmp_path / "rte", LAYOUTS["rte"]))
    enc = data.encode_split(loaded["train"], task, tok, 32)
    assert enc[0]["idx"] == 0 and enc[1]["idx"] == 1
    assert set(enc[0]["token_type_ids"]) == {0, 1}  # the second sentence has segment id 1
    short = data.encode_split(loaded["train"], task, tok, 5)
    assert all(len(e["input_ids"]) <= 5 for e in short)


class _Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def rank_batches(n, batch_size, nranks, rank, seed=3, epoch=0, skip=0):
    sampler = data.EpochBatchSampler(_Sized(n), batch_size, seed)
    sampler.nranks, sampler.local_rank = nranks, rank
    sampler.set_epoch(epoch, skip)
    return list(sampler)


def test_sampler_order_depends_on_seed_and_epoch_only():
    a = rank_batches(50, 8, 1, 0)
    assert a == rank_batches(50, 8, 1, 0)
    assert a != rank_batches(50, 8, 1, 0, epoch=1)
    assert a != rank_batches(50, 8, 1, 0, seed=4)
    assert sorted(i for b in a for i in b) == list(range(50))


def test_sampler_skips_batches_for_resume():
    assert rank_batches(50, 8, 1, 0, skip=3) == rank_batches(50, 8, 1, 0)[3:]


def test_two_ranks_see_the_global_batches_of_one_process():
    single = rank_batches(51, 8, 1, 0)
    r0, r1 = rank_batches(51, 4, 2, 0), rank_batches(51, 4, 2, 1)
    assert len(r0) == len(r1) == len(single)
    for whole, a, b in zip(single[:-1], r0, r1):
        assert sorted(whole) == sorted(a + b)
    assert len(r0[-1]) == len(r1[-1])  # ragged last batch padded so both ranks step together
    assert np.isin(single[-1], r0[-1] + r1[-1]).all()


def test_grouped_batches_cover_the_epoch_and_pad_little():
    rng = np.random.RandomState(0)
    lengths = rng.randint(3, 60, size=1000)
    sampler = data.EpochBatchSampler(_Sized(1000), 16, seed=1, lengths=lengths, group_chunk=10)
    grouped = list(sampler)
    assert sorted(i for b in grouped for i in b) == list(range(1000))

    def pad_ratio(batches):
        return sum(len(b) * lengths[b].max() for b in batches) / lengths.sum()

    random_batches = list(data.EpochBatchSampler(_Sized(1000), 16, seed=1))
    assert pad_ratio(grouped) < 1.15 < pad_ratio(random_batches)
    sampler.set_epoch(1)
    assert list(sampler) != grouped


def test_grouped_batches_are_the_same_global_batches_on_two_ranks():
    lengths = np.random.RandomState(1).randint(3, 60, size=101)
    single = data.EpochBatchSampler(_Sized(101), 8, seed=2, lengths=lengths)
    ranks = [data.EpochBatchSampler(_Sized(101), 4, seed=2, lengths=lengths) for _ in range(2)]
    for r, s in enumerate(ranks):
        s.nranks, s.local_rank = 2, r
    pairs = list(zip(list(single), *[list(s) for s in ranks]))
    ragged = [whole for whole, a, b in pairs if len(whole) != len(a + b)]
    assert len(ragged) == 1 and len(ragged[0]) == 101 % 8  # padded by one example on two ranks
    for whole, a, b in pairs:
        if len(whole) == len(a + b):
            assert sorted(whole) == sorted(a + b)


def test_eval_batches_are_sorted_and_cover_every_example_once():
    lengths = [5, 9, 2, 9, 7]
    batches = list(data.LengthSortedBatchSampler(lengths, 2))
    assert batches == [[1, 3], [4, 0], [2]]
    assert data.LengthSortedBatchSampler(lengths, 2).padded_tokens() == [18, 14, 2]  # longest of each, times its size


def test_subsample_is_the_same_random_subset_every_time():
    train = [{"sentence": f"s{i}", "label": str(i % 2)} for i in range(100)]
    first, again = data.subsample(train, 30), data.subsample(train, 30)
    assert first == again and len(first) == 30
    positions = [train.index(e) for e in first]
    assert positions == sorted(positions) and len(set(positions)) == 30
    assert positions != list(range(30))  # drawn at random, not the head of the file
    with pytest.raises(InputError, match="--max_train_examples 100"):
        data.subsample(train, 100)
