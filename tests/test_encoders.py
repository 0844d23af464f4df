"""Other encoders: ERNIE (1.0/2.0 and 3.0 with task-type embeddings) and RoBERTa (Chinese vocab.txt and English
BPE) through the whole pipeline (teacher, KD and PKD students, export, predict), built from the checkpoint's own
config.json; checkpoints that are not what config.json says are refused in one line, never trained at random."""
import json
import os
import shutil

import numpy as np
import paddle
import pytest
from paddlenlp.utils.log import logger as paddlenlp_logger

import data
from tasks import benchmarks
from model_folders import encoders
import export_model
import modeling
import run_patient_kd
from conftest import classifier_of, common_args
from demo_assets import write_tiny_encoder
from deploy import inference
from model_folders import safe_weights
from test_deploy import needs_onnx, INT8_ATOL
from training import evaluation

paddlenlp_logger.set_level("ERROR")
FAMILIES = ("ernie", "ernie3", "roberta", "roberta_bpe")
MODEL_TYPE = {"ernie": "ernie", "ernie3": "ernie", "roberta": "roberta", "roberta_bpe": "roberta"}
CLASSIFIER = {"ernie": "ErnieForSequenceClassification", "roberta": "RobertaForSequenceClassification"}
TINY = dict(num_layers=4, hidden_size=32, heads=2)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """family -> a tiny random pre-trained folder (config.json, model.safetensors, tokenizer files)."""
    root = tmp_path_factory.mktemp("encoders")
    return {fam: write_tiny_encoder(fam, str(root / fam), **TINY) for fam in FAMILIES}


def run(argv):
    """results.json of a finished run_patient_kd.py run."""
    results = run_patient_kd.main(argv)
    assert results["finished"]
    return results


def train_args(sst2_dir, model, out, *extra):
    return common_args(sst2_dir, model, str(out), "--logging_steps", "2", "--eval_steps", "1000", *extra)


@pytest.fixture(scope="module")
def teachers(pretrained, sst2_dir, tmp_path_factory):
    """family -> a fine-tuned 4-layer teacher's best_model folder (a few steps: enough to be a teacher here)."""
    out = {}
    for fam in FAMILIES:
        folder = tmp_path_factory.mktemp(f"teacher_{fam}")
        run(train_args(sst2_dir, pretrained[fam], folder, "--num_layers_of_student_model", "4", "--max_steps", "12"))
        out[fam] = str(folder / "best_model")
    return out


def config_of(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def refused(argv, capsys):
    """(exit status, the stderr line) of a run refused before training."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(argv)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return e.value.code, err


# ---- the pipeline, for each family ----

@pytest.mark.parametrize("fam", FAMILIES)
def test_teacher_kd_and_pkd_students_export_and_predict(fam, pretrained, teachers, sst2_dir, tmp_path):
    teacher = teachers[fam]
    assert config_of(teacher)["model_type"] == MODEL_TYPE[fam]
    assert config_of(teacher)["architectures"] == [CLASSIFIER[MODEL_TYPE[fam]]]
    students = {}
    for mode, flags in (("kd", ["--alpha", "0.5", "--T", "5", "--beta", "0"]),
                        ("pkd", ["--alpha", "0.5", "--T", "5", "--beta", "100", "--student_init", "teacher",
                                 "--transfer_file", os.path.join(sst2_dir, "test.tsv"),  # unlabelled: GLUE's test,
                                 "--eval_overlap", "keep"])):  # which is screened unless kept
        out = tmp_path / mode
        r = run(train_args(sst2_dir, pretrained[fam], out, "--teacher_finetuned_model_path", teacher,
                           "--num_layers_of_student_model", "2", "--max_steps", "4",
                           "--teacher_cache_dir", str(tmp_path / "cache"), *flags))
        assert r["teacher_layers"] == 4 and r["teacher_cache"]
        assert all(np.isfinite(w["loss"]) for w in r["train_log"])
        if mode == "pkd":
            assert all(w["pt"] is not None and w["pt"] > 0 for w in r["train_log"])  # [CLS] states are matched
            assert r["transfer_examples"] == 20
        students[mode] = str(out / "best_model")
        config = config_of(students[mode])
        assert (config["model_type"], config["num_hidden_layers"]) == (MODEL_TYPE[fam], 2)
        assert config.get("use_task_id", False) == (fam == "ernie3")
    exported = str(tmp_path / "exported")
    export_model.main(["--model_dir", students["pkd"], "--output_dir", exported])
    tokenizer = modeling.load_tokenizer(exported, "x")
    assert type(tokenizer) is type(modeling.load_tokenizer(pretrained[fam], "x"))
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), sst2_dir)["dev"], task, tokenizer, 32)
    static = inference.predict_logits(inference.create_predictor(exported), dev, data.collator(tokenizer))
    eager, _ = evaluation.predict(modeling.load_classifier(students["pkd"], "x"), data.eval_loader(dev, tokenizer, 16))
    np.testing.assert_allclose(static, eager, atol=1e-4)


@needs_onnx
@pytest.mark.parametrize("precision,atol", [("fp32", 1e-4), ("int8", INT8_ATOL)])
def test_onnx_exports_of_ernie3(precision, atol, teachers, sst2_dir, tmp_path):
    out = str(tmp_path / precision)
    export_model.main(["--model_dir", teachers["ernie3"], "--output_dir", out, "--format", "onnx",
                       "--precision", precision])
    tokenizer = modeling.load_tokenizer(out, "x")
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), sst2_dir)["dev"], task, tokenizer, 32)
    onnx = inference.predict_logits(inference.create_predictor(out), dev, data.collator(tokenizer))
    eager, _ = evaluation.predict(modeling.load_classifier(teachers["ernie3"], "x"), data.eval_loader(dev, tokenizer, 16))
    np.testing.assert_allclose(onnx, eager, atol=atol)


# ---- the student is the bottom of the model it is built from ----

def hidden_states(model, tokenizer):
    enc = tokenizer(["the movie was good", "not a great film but funny at times"], ["very dull", "boring"],
                    padding=True, return_attention_mask=True)
    batch = {k: paddle.to_tensor(np.asarray(v, dtype="int64")) for k, v in enc.items()}
    model.eval()
    with paddle.no_grad():
        return model(batch["input_ids"], token_type_ids=batch["token_type_ids"],
                     attention_mask=batch["attention_mask"], output_hidden_states=True, return_dict=True).hidden_states


@pytest.mark.parametrize("fam", FAMILIES)
def test_student_hidden_states_are_the_pretrained_models(fam, pretrained):
    source = modeling.load_pretrained(pretrained[fam])
    student = modeling.build_student(modeling.student_config(source.config, 2, 3), source)
    assert type(student).__name__ == CLASSIFIER[MODEL_TYPE[fam]]
    tokenizer = modeling.load_tokenizer(pretrained[fam], "x")
    full, small = hidden_states(modeling.load_pretrained(pretrained[fam]), tokenizer), \
        hidden_states(student, tokenizer)
    assert len(full) == 5 and len(small) == 3
    for i in range(3):
        np.testing.assert_allclose(small[i].numpy(), full[i].numpy(), atol=1e-5, err_msg=f"hidden_states[{i}]")


def test_ernie3_task_type_embeddings_are_loaded_and_copied(pretrained):
    weights = safe_weights.read_weights(os.path.join(pretrained["ernie3"], "model.safetensors"))
    source = modeling.load_pretrained(pretrained["ernie3"])
    student = modeling.build_student(modeling.student_config(source.config, 2, 2), source)
    np.testing.assert_array_equal(encoders.base_model(student).embeddings.task_type_embeddings.weight.numpy(),
                                  weights["embeddings.task_type_embeddings.weight"])


def test_an_ernie_checkpoint_trains_as_ernie_with_its_weights(pretrained, sst2_dir, tmp_path):
    """An ERNIE classifier folder as --model_name_or_path once trained a random BERT, exit status 0."""
    ernie = classifier_of(pretrained["ernie"])
    folder = str(tmp_path / "ernie_classifier")
    safe_weights.save_pretrained(ernie, folder)  # weights named ernie.*, with a classifier
    modeling.load_tokenizer(pretrained["ernie"], "x").save_pretrained(folder)
    out = tmp_path / "ft"
    run(train_args(sst2_dir, folder, out, "--num_layers_of_student_model", "2", "--max_steps", "1",
                   "--learning_rate", "1e-12", "--warmup_proportion", "0"))
    assert config_of(out / "best_model")["model_type"] == "ernie"
    student = safe_weights.read_weights(str(out / "best_model" / "model.safetensors"))
    given = {k: v.numpy() for k, v in ernie.state_dict().items()}
    for name in ("ernie.embeddings.word_embeddings.weight", "ernie.encoder.layers.1.linear1.weight"):
        np.testing.assert_allclose(student[name], given[name], atol=1e-6, err_msg=name)


def test_a_tokenizer_folder_with_only_vocab_txt_gets_bert_tokenizer(pretrained, tmp_path):
    folder = tmp_path / "vocab_only"
    shutil.copytree(pretrained["ernie"], folder, ignore=shutil.ignore_patterns("tokenizer_config.json"))
    assert type(modeling.load_tokenizer(str(folder), "x")).__name__ == "BertTokenizer"


# ---- refusals: one line, exit status 2 ----

def edit_config(src, dst, **changes):
    shutil.copytree(src, dst)
    config = {**config_of(dst), **changes}
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f)
    return str(dst)


def test_an_ernie_checkpoint_labelled_bert_is_refused(pretrained, tiny_bert, sst2_dir, tmp_path, capsys):
    ernie = classifier_of(pretrained["ernie"])
    folder = tmp_path / "ernie_as_bert"
    safe_weights.save_pretrained(ernie, str(folder))
    modeling.load_tokenizer(pretrained["ernie"], "x").save_pretrained(str(folder))
    shutil.copy(os.path.join(tiny_bert, "config.json"), folder / "config.json")  # says bert, sizes alike
    n = len([k for k in encoders.weight_names(encoders.FAMILIES["bert"].model,
                                              modeling.load_config(str(folder), "x"))[0] if "pooler" not in k])
    out = tmp_path / "out"
    assert refused(train_args(sst2_dir, str(folder), out, "--max_steps", "1"), capsys) == (
        2, f"error: --model_name_or_path {folder}: the weights do not cover the bert encoder config.json describes: "
           f"bert.embeddings.word_embeddings.weight is missing ({n} of {n} encoder weights)")
    assert not out.exists()
    relabelled = edit_config(pretrained["ernie"], tmp_path / "relabelled", model_type="bert")
    assert refused(train_args(sst2_dir, relabelled, out, "--max_steps", "1"), capsys) == (
        2, f"error: --model_name_or_path {relabelled}: config.json says model_type 'bert' but architectures "
           f"['ErnieModel'] (a ernie model): which is it?")


@pytest.mark.parametrize("fam", FAMILIES)
def test_a_pretrained_model_as_teacher_is_refused(fam, pretrained, sst2_dir, tmp_path, capsys):
    """Its classifier would start at random and teach noise: PaddleNLP only logs that."""
    argv = train_args(sst2_dir, pretrained[fam], tmp_path / "out", "--teacher_finetuned_model_path", pretrained[fam],
                      "--alpha", "0.5", "--max_steps", "1", "--num_layers_of_student_model", "2")
    status, line = refused(argv, capsys)
    assert status == 2 and line.startswith(f"error: --teacher_finetuned_model_path {pretrained[fam]}: no classifier.")
    classifier = encoders.family_of_folder(pretrained[fam], "x").classifier.__name__
    assert line.endswith(f"in the weights: a pre-trained encoder, not a fine-tuned {classifier} (its head would "
                         "start at random)")
    assert not (tmp_path / "out").exists()


def test_an_ernie_checkpoint_with_a_bert_teacher_is_refused(pretrained, teacher_dir, sst2_dir, tmp_path, capsys):
    argv = train_args(sst2_dir, pretrained["ernie3"], tmp_path / "out", "--teacher_finetuned_model_path",
                      teacher_dir, "--alpha", "0.5", "--max_steps", "1", "--num_layers_of_student_model", "2")
    assert refused(argv, capsys) == (
        2, f"error: --model_name_or_path {pretrained['ernie3']} is model type 'ernie' but "
           f"--teacher_finetuned_model_path {teacher_dir} is 'bert': teacher and student must be the same kind "
           f"of model")


def test_an_unsupported_model_type_is_refused(tiny_bert, sst2_dir, tmp_path, capsys):
    folder = edit_config(tiny_bert, tmp_path / "electra", model_type="electra",
                         architectures=["ElectraForSequenceClassification"])
    assert refused(train_args(sst2_dir, folder, tmp_path / "out", "--max_steps", "1"), capsys) == (
        2, f"error: --model_name_or_path {folder}: model type 'electra' is not supported "
           f"(supported: bert, ernie, roberta)")


@pytest.mark.parametrize("fam,victim", [("ernie3", "encoder.layers.1.self_attn.k_proj.weight"),
                                        ("ernie3", "embeddings.task_type_embeddings.weight"),
                                        ("roberta_bpe", "embeddings.position_embeddings.weight")])
def test_a_checkpoint_missing_an_encoder_weight_is_refused(fam, victim, pretrained, sst2_dir, tmp_path, capsys):
    folder = tmp_path / "damaged"
    shutil.copytree(pretrained[fam], folder)
    weights = safe_weights.read_weights(str(folder / "model.safetensors"))
    del weights[victim]
    safe_weights.write_safetensors(weights, str(folder / "model.safetensors"))
    prefix = MODEL_TYPE[fam]
    n = len(weights) + 1 - 2  # the encoder's weights without the pooler
    assert refused(train_args(sst2_dir, str(folder), tmp_path / "out", "--max_steps", "1"), capsys) == (
        2, f"error: --model_name_or_path {folder}: the weights do not cover the {prefix} encoder config.json "
           f"describes: {prefix}.{victim} is missing (1 of {n} encoder weights)")


def test_ernie3_weights_under_a_config_without_task_ids_are_refused(pretrained, sst2_dir, tmp_path, capsys):
    folder = edit_config(pretrained["ernie3"], tmp_path / "no_task_id", use_task_id=False)
    assert refused(train_args(sst2_dir, folder, tmp_path / "out", "--max_steps", "1"), capsys) == (
        2, f"error: --model_name_or_path {folder}: the weights hold ernie.embeddings.task_type_embeddings.weight, "
           f"which the ernie model config.json describes has no place for (1 such weights)")


# ---- RoBERTa's position table ----

def test_roberta_position_limit_is_the_table_less_the_padding_offset(pretrained, sst2_dir, tmp_path, capsys):
    folder = pretrained["roberta_bpe"]  # 130 rows, pad 1: positions 2..129, so 128 tokens
    config = modeling.load_config(folder, "x")
    assert (config.max_position_embeddings, encoders.max_positions(config)) == (130, 128)
    model = modeling.load_pretrained(folder)
    model.eval()
    with paddle.no_grad():
        model(paddle.full([1, 128], 5, dtype="int64"))  # the longest input runs
        with pytest.raises(Exception):
            model(paddle.full([1, 129], 5, dtype="int64"))
    assert refused(train_args(sst2_dir, folder, tmp_path / "out", "--max_seq_length", "129"), capsys) == (
        2, f"error: --max_seq_length 129 is larger than the position table of --model_name_or_path {folder} "
           f"(max_position_embeddings 130, positions starting at pad_token_id 1 + 1: 128 tokens)")


# ---- scripts/gpu_check.py --family ----

def test_gpu_check_items_pass_for_ernie3_when_run_on_the_cpu(tmp_path, monkeypatch):
    import gpu_check
    from demo_assets import write_sst2_layout

    monkeypatch.setattr(gpu_check, "DEVICE", "cpu")
    monkeypatch.setattr(gpu_check, "ITEMS", ("teacher", "pkd", "export_predict"))
    write_sst2_layout(str(tmp_path / "SST-2"), num_train=200, num_dev=50, num_test=5)
    write_tiny_encoder("ernie3", str(tmp_path / gpu_check.MODEL), **TINY)
    results = gpu_check.run_checks(str(tmp_path))
    assert {item: status for item, (status, _) in results.items()} == {item: "pass" for item in gpu_check.ITEMS}
