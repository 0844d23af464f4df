"""Unlabelled text the teacher labels: the transfer set, augmented copies, the hard loss on labelled rows only,
their overlap with the dev texts, and the bad input they can bring."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

import data
import kd_loss
import run_patient_kd
from conftest import ROOT, common_args
from tasks import augment, transfer
from tasks.benchmarks import get_task
from test_kd_loss import np_ce
from test_own_data import bad_run
from test_reliability import kill_after_checkpoint


def test_ce_on_labelled_rows_is_their_loss_over_the_whole_batch():
    rng = np.random.RandomState(0)
    logits, labels = rng.randn(6, 3).astype("float32"), rng.randint(0, 3, 6).astype("int64")
    labelled = np.array([1, 0, 1, 1, 0, 0], dtype="float32")
    got = kd_loss.ce_loss(paddle.to_tensor(logits), paddle.to_tensor(labels), paddle.to_tensor(labelled)).item()
    rows = labelled == 1
    assert got == pytest.approx(np_ce(logits[rows], labels[rows]) * rows.sum() / len(rows), rel=1e-5)
    none = kd_loss.ce_loss(paddle.to_tensor(logits), paddle.to_tensor(labels), paddle.to_tensor(0 * labelled)).item()
    assert none == 0.0
    every = kd_loss.ce_loss(paddle.to_tensor(logits), paddle.to_tensor(labels), paddle.to_tensor(1 + 0 * labelled))
    assert every.item() == pytest.approx(np_ce(logits, labels), rel=1e-5)


def test_mse_on_labelled_rows():
    outputs, scores = np.array([[1.0], [2.0], [4.0]], "float32"), np.array([0.0, 0.0, 1.0])
    got = kd_loss.mse_loss(paddle.to_tensor(outputs), paddle.to_tensor(scores), paddle.to_tensor([1.0, 0.0, 1.0]))
    assert got.item() == pytest.approx((1.0 + 9.0) / 3)


def test_mix_repeats_the_labelled_examples_to_their_share():
    labelled, unlabelled = [{"i": i} for i in range(10)], [{"u": i} for i in range(90)]
    assert data.mix(labelled, unlabelled) == labelled + unlabelled
    mixed = data.mix(labelled, unlabelled, labelled_share=0.5)
    assert len(mixed) == 180 and mixed[:90] == labelled * 9
    assert data.mix(labelled, []) is labelled


def test_collator_marks_unlabelled_rows(tiny_bert):
    from paddlenlp.transformers import AutoTokenizer

    collate = data.collator(AutoTokenizer.from_pretrained(tiny_bert), unlabelled_rows=True)
    features = [{"input_ids": [1, 5, 2], "token_type_ids": [0, 0, 0], "labels": 1, "idx": 0},
                {"input_ids": [1, 2], "token_type_ids": [0, 0], "idx": 1}]
    batch = collate(features)
    assert batch["labels"].tolist() == [1, 0] and batch["labelled"].tolist() == [1.0, 0.0]
    assert "labelled" not in collate(features[:1])  # a fully labelled batch: the plain batch mean


def test_augmentation_is_deterministic_drops_duplicates_and_copies_no_label():
    examples = [{"s": "the film is not good at all , sadly", "label": 1}, {"s": "great fun", "label": 0}]
    first, origins = augment.augment(examples, ("s",), 20, seed=3, mask_token="[MASK]")
    again, _ = augment.augment(examples, ("s",), 20, seed=3, mask_token="[MASK]")
    other, _ = augment.augment(examples, ("s",), 20, seed=4, mask_token="[MASK]")
    assert first == again and first != other
    texts = [e["s"] for e in first]
    assert len(set(texts)) == len(texts) and not set(texts) & {e["s"] for e in examples}
    assert all(set(e) == {"s"} for e in first)  # the teacher labels them
    assert 0 < origins.count(0) <= 20 and any("[MASK]" in t for t in texts)
    assert all(set(t.split()) <= set(examples[o]["s"].split()) | {"[MASK]"} for t, o in zip(texts, origins))


def test_pairs_change_the_first_the_second_then_both_texts():
    pair = [{"a": "a b c d e f g h i j", "b": "k l m n o p q r s t"}]
    copies, _ = augment.augment(pair, ("a", "b"), 30, seed=0, mask_token="[MASK]")
    changed = {(c["a"] != pair[0]["a"], c["b"] != pair[0]["b"]) for c in copies}
    assert changed == {(True, False), (False, True), (True, True)}


def test_chinese_words_are_replaced_by_words_of_the_same_part_of_speech():
    import jieba.posseg

    examples = [{"t": "这家酒店的服务非常好"}, {"t": "那个餐厅的菜实在太差"}, {"t": "房间很干净，早餐一般"}]
    tags = {pair.word: pair.flag for e in examples for pair in jieba.posseg.lcut(e["t"])}
    copies, origins = augment.augment(examples, ("t",), 30, seed=1, mask_token="[MASK]")
    replaced = 0
    for copy, origin in zip(copies, origins):
        for word, tag in augment.tagged_words(copy["t"].replace("[MASK]", "")):
            if word in tags and word not in examples[origin]["t"]:
                replaced += 1  # a word brought in from another example: it had some tag there
    assert replaced > 0


def test_same_pos_words_are_drawn_from_the_tag_unigram_distribution_never_the_word_itself():
    vocabulary = augment.TagVocabulary([[("a", "n")] * 9 + [("b", "n")] + [("c", "n")] * 90 + [("x", "v")]])
    rng = np.random.RandomState(0)
    drawn = [vocabulary.replacement("b", "n", rng) for _ in range(4000)]
    assert "b" not in drawn and drawn.count("a") / len(drawn) == pytest.approx(9 / 99, abs=0.015)
    drawn = [vocabulary.replacement("c", "n", rng) for _ in range(1000)]
    assert drawn.count("a") / len(drawn) == pytest.approx(0.9, abs=0.03)  # a: 9 of the 10 other words
    assert not vocabulary.can_replace("v") and not vocabulary.can_replace(None)


def test_overlap_with_the_dev_texts_is_refused_dropped_or_kept():
    task = get_task("sst-2")
    examples = [{"sentence": "A fine  film "}, {"sentence": "new text"}]
    keys = transfer.evaluation_keys(task, [{"sentence": "a fine film"}])
    sources = ["t.tsv:2", "t.tsv:3"]
    with pytest.raises(Exception, match=r"1 transfer text\(s\) are also dev or test texts \(the first: t.tsv:2\)"):
        transfer.screen_overlap(examples, sources, keys, "refuse", "transfer", task.text_keys)
    kept, _, found = transfer.screen_overlap(examples, sources, keys, "drop", "transfer", task.text_keys)
    assert kept == examples[1:] and found == 1
    assert transfer.screen_overlap(examples, sources, keys, "keep", "transfer", task.text_keys)[0] == examples


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
        writer.writerows([header, *rows])
    return str(path)


def sentences(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t")[0] for line in f][1:]


@pytest.fixture(scope="module")
def transfer_file(sst2_dir, tmp_path_factory):
    """The synthetic train sentences with their labels (ignored), minus any that are also dev sentences."""
    dev = set(sentences(os.path.join(sst2_dir, "dev.tsv")))
    with open(os.path.join(sst2_dir, "train.tsv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return write_tsv(tmp_path_factory.mktemp("transfer") / "unlabelled.tsv", ["sentence", "label"],
                     [r for r in rows if r[0] not in dev])


def kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, out, *extra):
    return common_args(sst2_dir, tiny_bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
                       "--num_layers_of_student_model", "2", "--alpha", "0.5", "--beta", "10", "--max_steps", "60",
                       "--save_steps", "20", "--eval_steps", "30", *extra)


def test_transfer_set_is_labelled_by_the_cached_teacher(sst2_dir, tiny_bert, teacher_dir, transfer_file, tmp_path):
    cache = tmp_path / "cache"
    flags = ["--transfer_file", transfer_file, "--augment", "2", "--write_augmented", str(tmp_path / "aug.tsv"),
             "--teacher_cache_dir", str(cache)]
    result = run_patient_kd.main(kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "a", *flags))
    n_transfer = len(sentences(transfer_file))
    assert result["transfer_examples"] == n_transfer and result["transfer_eval_overlap"] == 0
    assert result["augmented_examples"] == len(sentences(tmp_path / "aug.tsv")) > 0 and result["augment"] == 2
    logits = np.load(cache / result["teacher_cache"][:24] / "logits.npy")
    assert len(logits) == 320 + n_transfer + result["augmented_examples"]  # train, transfer, augmented
    log = open(tmp_path / "a" / "train.log").read()
    assert "its column 'label' is ignored" in log and f"transfer {n_transfer}" in log
    ce = [w["ce"] for w in result["train_log"]]
    plain = run_patient_kd.main(kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "b",
                                                 "--teacher_cache_dir", str(cache)))
    assert plain["teacher_cache"] != result["teacher_cache"] and "transfer_examples" not in plain
    assert max(ce) < max(w["ce"] for w in plain["train_log"])  # most rows have no CE: the batch mean is smaller
    again = run_patient_kd.main(kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "c", *flags))
    assert again["teacher_cache"] == result["teacher_cache"] and "reusing" in open(tmp_path / "c" / "train.log").read()


def test_sigkill_then_resume_with_a_transfer_set(sst2_dir, tiny_bert, teacher_dir, transfer_file, tmp_path):
    flags = ["--transfer_file", transfer_file, "--teacher_cache_dir", str(tmp_path / "cache"), "--max_steps", "200"]
    whole = tmp_path / "whole"
    subprocess.run([sys.executable, os.path.join(ROOT, "run_patient_kd.py"),
                    *kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, whole, *flags)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    argv = kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "killed", *flags)
    assert kill_after_checkpoint(argv, tmp_path / "killed", 60, timeout=300) < 200
    subprocess.run([sys.executable, os.path.join(ROOT, "run_patient_kd.py"), *argv], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got, want = (json.load(open(out / "results.json")) for out in (tmp_path / "killed", whole))
    assert [h["acc"] for h in got["history"]] == [h["acc"] for h in want["history"]]
    with np.load(tmp_path / "killed" / "checkpoint-200" / "model.npz") as a, \
            np.load(whole / "checkpoint-200" / "model.npz") as b:
        for k in b.files:
            np.testing.assert_allclose(a[k], b[k], atol=1e-6, rtol=0, err_msg=k)


@pytest.mark.parametrize("content,extra,message", [
    ("body\ngood film\n", [], "no column 'sentence' (the task's text) and none of the usual names"),
    ("", [], "empty file"),
    ("sentence\n", [], "no examples"),
    (b"sentence\ngood\n\xff\xfe bad\n", [], ":3: not valid UTF-8"),
    ("sentence\n \n", [], None),  # a blank line only: no examples
    ('{"sentence": "good"}\n{"title": "bad"}\n', [], ":2: no field 'sentence'"),
    ("sentence\ngood\n", ["--augment", "-1"], "--augment must be between 0 and 100"),
    ("sentence\ngood\n", ["--augment", "1000"], "--augment must be between 0 and 100"),
    ("sentence\ngood\n", ["--alpha", "0", "--beta", "0"], "--transfer_file gives text that the teacher labels: it needs KD"),
    ("sentence\ngood\n", ["--labelled_share", "1"], "--labelled_share must be in (0, 1)"),
])
def test_bad_transfer_input(capsys, sst2_dir, tiny_bert, teacher_dir, tmp_path, content, extra, message):
    path = tmp_path / ("t.jsonl" if str(content).startswith("{") else "t.tsv")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    err = bad_run(capsys, kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, out, "--transfer_file", str(path),
                                           "--teacher_cache_dir", str(tmp_path / "cache"), *extra))
    assert (message or "no examples") in err
    assert not out.exists()  # nothing left behind


def test_dev_texts_in_the_transfer_set_are_refused_unless_allowed(capsys, sst2_dir, tiny_bert, teacher_dir, tmp_path):
    dev = sentences(os.path.join(sst2_dir, "dev.tsv"))
    path = write_tsv(tmp_path / "t.tsv", ["sentence"], [["a new sentence"], [dev[3].upper()]])
    out = tmp_path / "out"
    args = kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, out, "--transfer_file", path,
                            "--teacher_cache_dir", str(tmp_path / "cache"), "--max_steps", "5")
    err = bad_run(capsys, args)
    assert f"1 transfer text(s) are also dev or test texts (the first: {path}:3)" in err and not out.exists()
    result = run_patient_kd.main(args + ["--eval_overlap", "drop"])
    assert result["transfer_examples"] == 1 and result["transfer_eval_overlap"] == 1


def test_test_texts_beside_the_official_files_are_screened_too(capsys, sst2_dir, tiny_bert, teacher_dir, tmp_path):
    with open(os.path.join(sst2_dir, "test.tsv"), encoding="utf-8") as f:
        test = [line.rstrip("\n").split("\t")[1] for line in f][1:]  # index, sentence
    path = write_tsv(tmp_path / "t.tsv", ["sentence"], [["a new sentence"], [test[5]]])
    out = tmp_path / "out"
    err = bad_run(capsys, kd_transfer_args(sst2_dir, tiny_bert, teacher_dir, out, "--transfer_file", path,
                                           "--teacher_cache_dir", str(tmp_path / "cache")))
    assert f"1 transfer text(s) are also dev or test texts (the first: {path}:3)" in err and not out.exists()
