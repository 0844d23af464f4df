"""No code runs from a model file: every entry point that takes a model folder refuses a booby-trapped
pickle before it runs (the payload's marker file never appears), genuine old .pdparams folders still
load with the same logits, and upgrade_model.py turns them into model.safetensors folders.

The old loader (PaddleNLP's from_pretrained, which calls paddle.load) is called only on folders these
tests wrote themselves, to compare.
"""
import json
import os
import shutil

import numpy as np
import paddle
import pytest
from paddlenlp.transformers import BertConfig, BertForSequenceClassification, BertModel, model_utils

from model_folders import encoders
import export_model
import modeling
import run_patient_kd
import upgrade_model
from errors import InputError
from conftest import common_args
from model_folders import safe_weights
from runtime import teacher_cache
from weight_files import SYSTEM, hostile_model_dir, write_hostile_pdparams

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
LEGACY_FIXTURES = sorted(os.path.join(FIXTURES, d) for d in os.listdir(FIXTURES) if d.startswith("legacy_bert_"))
FIXTURE_IDS = [[2, 7, 9, 11, 3, 0], [2, 5, 3, 0, 0, 0]]  # as in fixtures/make_fixtures.py


def refusal_line(flag, folder):
    return (f"error: {flag} {folder}: model_state.pdparams wants to import {SYSTEM}; "
            "refusing to load it (see README, Security)")


def run_main(main, argv, capsys):
    """(exit status, stderr) of a command-line main that is expected to stop."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err.strip()


@pytest.fixture
def hostile(tiny_bert, tmp_path):
    """(folder, marker): the tiny BERT's folder, its weights a model_state.pdparams with a payload inside."""
    marker = tmp_path / "MARKER"
    return hostile_model_dir(tiny_bert, str(tmp_path / "evil_model"), marker), marker


def test_the_payload_is_live_under_the_old_loader(hostile):
    """The control: PaddleNLP's own from_pretrained (paddle.load) on the hostile folder runs the payload."""
    folder, marker = hostile
    try:
        BertModel.from_pretrained(folder)
    except Exception:
        pass  # whether it fails afterwards does not matter: the command has run
    assert marker.exists()


# ---- every entry point refuses, and nothing runs ----

def test_model_name_or_path_refuses_a_hostile_pickle(hostile, sst2_dir, tmp_path, capsys):
    folder, marker = hostile
    out = tmp_path / "out"
    status, err = run_main(run_patient_kd.main, common_args(sst2_dir, folder, str(out), "--num_layers_of_student_model",
                                                            "2", "--max_steps", "2"), capsys)
    assert (status, err) == (2, refusal_line("--model_name_or_path", folder))
    assert not marker.exists() and not out.exists()


def test_a_hostile_pickle_beside_genuine_safetensors_is_never_read(hostile, tiny_bert, sst2_dir, tmp_path):
    """model.safetensors wins over a .pdparams beside it: the pickle is never opened (its payload would run)."""
    folder, marker = hostile
    shutil.copy(os.path.join(tiny_bert, safe_weights.SAFETENSORS), folder)
    results = run_patient_kd.main(common_args(sst2_dir, folder, str(tmp_path / "out"), "--num_layers_of_student_model",
                                              "2", "--max_steps", "2"))
    assert results["finished"] and not marker.exists()


def test_teacher_path_refuses_a_hostile_pickle(hostile, sst2_dir, tiny_bert, tmp_path, capsys):
    folder, marker = hostile
    argv = common_args(sst2_dir, tiny_bert, str(tmp_path / "out"), "--teacher_finetuned_model_path", folder,
                       "--alpha", "0.5", "--num_layers_of_student_model", "2", "--max_steps", "2")
    status, err = run_main(run_patient_kd.main, argv, capsys)
    assert (status, err) == (2, refusal_line("--teacher_finetuned_model_path", folder))
    assert not marker.exists()


def test_export_refuses_a_hostile_pickle(hostile, tmp_path, capsys):
    folder, marker = hostile
    status, err = run_main(export_model.main, ["--model_dir", folder, "--output_dir", str(tmp_path / "exp")], capsys)
    assert (status, err) == (2, refusal_line("--model_dir", folder))
    assert not marker.exists()


def test_upgrade_refuses_a_hostile_pickle_and_writes_nothing(hostile, capsys):
    folder, marker = hostile
    before = sorted(os.listdir(folder))
    status, err = run_main(upgrade_model.main, [folder], capsys)
    assert (status, err) == (2, f"error: {folder}: model_state.pdparams wants to import {SYSTEM}; "
                                "refusing to load it (see README, Security)")
    assert not marker.exists() and sorted(os.listdir(folder)) == before


def test_a_weight_index_naming_a_pickle_is_refused(tiny_bert, tmp_path):
    """PaddleNLP prefers model.safetensors.index.json to model.safetensors and unpickles the .pdparams
    shards it names: such a folder is refused, whatever else it holds."""
    folder, marker = tmp_path / "sharded", tmp_path / "MARKER"
    shutil.copytree(tiny_bert, folder)
    write_hostile_pdparams(folder / "evil.pdparams", marker)
    (folder / "model.safetensors.index.json").write_text(
        '{"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "evil.pdparams"}}')
    with pytest.raises(InputError, match="model.safetensors.index.json: sharded weights are not supported"):
        modeling.load_pretrained(str(folder))
    assert not marker.exists()


def test_a_hub_model_is_read_safely_too(tmp_path, monkeypatch):
    """A hub name's weights are downloaded by PaddleNLP, then read here like a local file's."""
    marker, evil = tmp_path / "MARKER", tmp_path / "model_state.pdparams"
    write_hostile_pdparams(evil, marker)
    resolved = (str(evil), None, None, False)
    monkeypatch.setattr(BertModel, "_resolve_model_file_path", classmethod(lambda cls, name: resolved))
    monkeypatch.setattr(encoders, "family_of_hub_model", lambda name, what: encoders.FAMILIES["bert"])
    with pytest.raises(InputError) as e:
        modeling.load_pretrained("bert-tiny-evil")
    assert str(e.value) == refusal_line("--model_name_or_path", "bert-tiny-evil")[len("error: "):]
    assert not marker.exists()


# ---- genuine old folders still load, exactly ----

def logits_of(model, ids=FIXTURE_IDS):
    model.eval()
    with paddle.no_grad():
        out = model(paddle.to_tensor(ids))
    return (out[0] if isinstance(out, tuple) else out).numpy()


@pytest.fixture
def no_paddle_load(monkeypatch):
    """paddle.load fails the test while the project reads weights."""
    monkeypatch.setattr(paddle, "load", lambda *a, **k: pytest.fail("paddle.load called"))


def legacy_classifier(folder):
    """A tiny classifier folder as older versions wrote it (save_pretrained's default: model_state.pdparams)."""
    shutil.copytree(LEGACY_FIXTURES[0], folder, ignore=shutil.ignore_patterns("*.pdparams", "*.npy"))
    paddle.seed(3)
    model = BertForSequenceClassification(BertConfig.from_pretrained(str(folder)))
    model.save_pretrained(str(folder))
    assert os.listdir(folder).count("model_state.pdparams") == 1 and "model.safetensors" not in os.listdir(folder)
    return str(folder)


def test_save_pretrained_pdparams_loads_with_the_old_loaders_logits(tmp_path, monkeypatch):
    folder = legacy_classifier(tmp_path / "old")
    expected = logits_of(BertForSequenceClassification.from_pretrained(folder))  # the old loader
    monkeypatch.setattr(paddle, "load", lambda *a, **k: pytest.fail("paddle.load called"))
    np.testing.assert_array_equal(logits_of(modeling.load_classifier(folder, "x")), expected)


def test_paddle_save_of_a_bert_model_loads_with_the_old_loaders_logits(tiny_bert, tmp_path, monkeypatch):
    """A BertModel state dict written by paddle.save (names without the `bert.` prefix)."""
    folder = tmp_path / "bert"
    shutil.copytree(tiny_bert, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    paddle.seed(4)
    paddle.save(BertModel(modeling.load_config(tiny_bert, "x")).state_dict(), str(folder / "model_state.pdparams"))
    expected = logits_of(BertModel.from_pretrained(str(folder)))  # the old loader
    monkeypatch.setattr(paddle, "load", lambda *a, **k: pytest.fail("paddle.load called"))
    np.testing.assert_array_equal(logits_of(modeling.load_pretrained(str(folder))), expected)


@pytest.mark.parametrize("fixture", LEGACY_FIXTURES, ids=os.path.basename)
def test_folders_of_either_stack_load_with_their_logits(fixture, no_paddle_load):
    """Folders written by Paddle 2.6.2 and 3.3.1 (fixtures/make_fixtures.py), on the running stack."""
    expected = np.load(os.path.join(fixture, "expected_logits.npy"))
    np.testing.assert_allclose(logits_of(modeling.load_classifier(fixture, "x")), expected, rtol=1e-6, atol=1e-7)


# ---- upgrading ----

def test_upgrade_into_a_new_folder_keeps_the_logits(tmp_path, capsys, monkeypatch):
    old = legacy_classifier(tmp_path / "old")
    expected = logits_of(BertForSequenceClassification.from_pretrained(old))
    new, tensors = str(tmp_path / "new"), len(safe_weights.read_pdparams(os.path.join(old, "model_state.pdparams")))
    upgrade_model.main([old, new])
    assert capsys.readouterr().out.strip() == f"upgraded {old} -> {new}: model.safetensors ({tensors} tensors)"
    assert sorted(os.listdir(new)) == sorted([f for f in os.listdir(old) if f != "model_state.pdparams"] +
                                             ["model.safetensors"])
    monkeypatch.setattr(paddle, "load", lambda *a, **k: pytest.fail("paddle.load called"))
    np.testing.assert_array_equal(logits_of(modeling.load_classifier(new, "x")), expected)
    np.testing.assert_array_equal(logits_of(BertForSequenceClassification.from_pretrained(new)), expected)
    assert "model_state.pdparams" in os.listdir(old)  # left as it was


@pytest.mark.parametrize("fixture", LEGACY_FIXTURES, ids=os.path.basename)
def test_upgrade_in_place_keeps_the_logits(fixture, tmp_path, capsys, no_paddle_load):
    folder = str(tmp_path / "model")
    shutil.copytree(fixture, folder)
    tensors = len(safe_weights.read_pdparams(os.path.join(folder, "model_state.pdparams")))
    upgrade_model.main([folder])
    assert capsys.readouterr().out.strip() == \
        f"upgraded {folder}: model.safetensors ({tensors} tensors) replaces model_state.pdparams"
    assert "model_state.pdparams" not in os.listdir(folder) and "model.safetensors" in os.listdir(folder)
    expected = np.load(os.path.join(fixture, "expected_logits.npy"))
    np.testing.assert_allclose(logits_of(modeling.load_classifier(folder, "x")), expected, rtol=1e-6, atol=1e-7)
    upgrade_model.main([folder])
    assert capsys.readouterr().out.strip() == f"{folder} already holds model.safetensors: nothing to upgrade"


def paddlenlp_24_folder(fixture, folder):
    """FIXTURE as PaddleNLP <= 2.4 saved a classifier (the reference's era): model_config.json holding init_class
    and the encoder's arguments in init_args, no config.json."""
    shutil.copytree(fixture, folder)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    os.remove(os.path.join(folder, "config.json"))
    for key in ("architectures", "model_type", "paddlenlp_version", "fuse"):
        config.pop(key, None)
    with open(os.path.join(folder, "model_config.json"), "w") as f:
        json.dump({"init_args": [dict(config, init_class="BertModel")], "init_class": "BertForSequenceClassification",
                   "num_classes": 2}, f)
    return folder


def test_a_paddlenlp_24_folder_loads_and_upgrades(tmp_path, capsys, no_paddle_load):
    fixture = LEGACY_FIXTURES[-1]
    folder = paddlenlp_24_folder(fixture, str(tmp_path / "model"))
    expected = np.load(os.path.join(fixture, "expected_logits.npy"))
    assert encoders.family_of_folder(folder, "x").name == "bert"
    np.testing.assert_allclose(logits_of(modeling.load_classifier(folder, "x")), expected, rtol=1e-6, atol=1e-7)
    upgrade_model.main([folder])
    assert capsys.readouterr().out.strip().startswith(f"upgraded {folder}: model.safetensors")
    assert sorted(os.listdir(folder)) == sorted(set(os.listdir(fixture)) - {"config.json", "model_state.pdparams"}
                                                | {"model_config.json", "model.safetensors"})
    np.testing.assert_allclose(logits_of(modeling.load_classifier(folder, "x")), expected, rtol=1e-6, atol=1e-7)


def test_upgrade_mistakes_are_one_line(tmp_path, tiny_bert, capsys):
    assert run_main(upgrade_model.main, [str(tmp_path / "absent")], capsys) == \
        (2, f"error: {tmp_path / 'absent'}: no such folder")
    old = legacy_classifier(tmp_path / "old")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    assert run_main(upgrade_model.main, [old, str(tmp_path / "taken")], capsys) == \
        (2, f"error: {tmp_path / 'taken'}: exists and is not an empty folder")


# ---- what the project writes ----

def test_teacher_cache_key_covers_model_safetensors(tiny_bert, tmp_path):
    folder = tmp_path / "teacher"
    shutil.copytree(tiny_bert, folder)
    assert os.listdir(folder).count("model.safetensors") == 1 and "model_state.pdparams" not in os.listdir(folder)
    encoded = [{"input_ids": [2, 5, 3], "token_type_ids": [0, 0, 0]}]
    key = teacher_cache.cache_key(str(folder), encoded, [1])
    state = safe_weights.read_safetensors(str(folder / "model.safetensors"))
    state["pooler.dense.bias"] = state["pooler.dense.bias"] + 1
    safe_weights.write_safetensors(state, str(folder / "model.safetensors"))
    assert teacher_cache.cache_key(str(folder), encoded, [1]) != key
