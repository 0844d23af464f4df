"""ONNX and int8 exports: written from a tiny model, agreeing with the eager model, run by predict.py;
one-line errors for a missing deployment dependency and for an incomplete export folder."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import data
from tasks import benchmarks
from training import evaluation
import export_model
from deploy import inference
import modeling
from runtime import paddle_compat
import predict
from conftest import ROOT

# int8 scores (logits) may differ from the eager model's by this much: measured 0.016 on the fixture
# teacher (hidden 32); fp32 ONNX must match as closely as the Paddle predictor does (1e-4).
INT8_ATOL = 0.1
VARIANTS = (("onnx", "fp32"), ("onnx", "int8"))


def onnx_unavailable():
    """Why ONNX exports cannot be made on this stack (a skip reason), or None."""
    if not paddle_compat.ONNX_EXPORT:
        return f"paddle2onnx exports Paddle 3.x programs only (installed: paddlepaddle {paddle_compat.VERSION})"
    missing = [m for m in ("paddle2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing and sys.version_info >= (3, 13):
        return "paddle2onnx and onnx have no Python 3.13 wheels (requirements-deploy.txt installs onnxruntime only)"
    return f"not installed: {', '.join(missing)} (pip install --no-deps -r requirements-deploy.txt)" if missing else None


needs_onnx = pytest.mark.skipif(onnx_unavailable() is not None, reason=str(onnx_unavailable()))


@pytest.fixture(scope="module")
def exports(teacher_dir, tmp_path_factory):
    """{(format, precision): folder} exported from the fixture teacher through the command line."""
    out = {}
    for fmt, precision in VARIANTS:
        out[fmt, precision] = str(tmp_path_factory.mktemp(f"{fmt}_{precision}"))
        export_model.main(["--model_dir", teacher_dir, "--output_dir", out[fmt, precision],
                           "--format", fmt, "--precision", precision])
    return out


@pytest.fixture(scope="module")
def dev_and_eager(teacher_dir, sst2_dir):
    tok = modeling.load_tokenizer(teacher_dir, "x")
    task = benchmarks.get_task("sst-2")
    dev = data.encode_split(benchmarks.load_splits(task, ("dev",), sst2_dir)["dev"], task, tok, 32)
    eager, _ = evaluation.predict(modeling.load_classifier(teacher_dir, "x"), data.eval_loader(dev, tok, 16))
    return dev, data.collator(tok), eager


@needs_onnx
@pytest.mark.parametrize("fmt,precision", VARIANTS)
def test_export_json_names_format_precision_and_engine(exports, fmt, precision):
    info = json.load(open(os.path.join(exports[fmt, precision], inference.EXPORT_INFO)))
    assert (info["format"], info["precision"], info["engine"]) == (fmt, precision, "onnxruntime")
    assert info["program"] == inference.ONNX_FILE and info["paddle"] == paddle_compat.VERSION
    assert os.path.isfile(os.path.join(exports[fmt, precision], "vocab.txt"))
    assert inference.read_export(exports[fmt, precision])["format"] == fmt


@needs_onnx
@pytest.mark.parametrize("fmt,precision,atol", [("onnx", "fp32", 1e-4), ("onnx", "int8", INT8_ATOL)])
def test_onnx_exports_agree_with_the_eager_model(exports, dev_and_eager, fmt, precision, atol):
    dev, collate, eager = dev_and_eager
    logits = inference.predict_logits(inference.create_predictor(exports[fmt, precision]), dev, collate, 16)
    np.testing.assert_allclose(logits, eager, atol=atol)
    assert (logits.argmax(-1) == eager.argmax(-1)).all()


@needs_onnx
def test_int8_export_holds_int8_weights_and_is_smaller(exports):
    """Guards the paddle2onnx trap: weights as Constant nodes left quantize_dynamic with nothing to do."""
    import onnx

    def matmul_weights(folder):
        model = onnx.load(os.path.join(folder, inference.ONNX_FILE))
        inits = {t.name: t for t in model.graph.initializer}
        ops = [n for n in model.graph.node if n.op_type in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul")]
        return [inits[i] for n in ops for i in n.input if i in inits and len(inits[i].dims) == 2]

    fp32, int8 = matmul_weights(exports["onnx", "fp32"]), matmul_weights(exports["onnx", "int8"])
    assert fp32 and all(t.data_type == onnx.TensorProto.FLOAT for t in fp32)
    assert len(int8) == len(fp32) and all(t.data_type == onnx.TensorProto.INT8 for t in int8)
    size = {k: os.path.getsize(os.path.join(exports["onnx", k], inference.ONNX_FILE)) for k in ("fp32", "int8")}
    assert size["int8"] < size["fp32"]


@needs_onnx
def test_weights_written_as_constant_nodes_become_initializers():
    import onnx
    from onnx import helper, numpy_helper

    from deploy import onnx_export

    weight = numpy_helper.from_array(np.ones((4, 3), np.float32))
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["w"], value=weight), helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph)
    assert onnx_export.weights_as_initializers(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul"] and model.graph.initializer[0].name == "w"
    onnx.checker.check_model(model)


@needs_onnx
@pytest.mark.parametrize("fmt,precision", VARIANTS)
def test_predict_runs_each_export_and_writes_the_same_submission_format(exports, sst2_dir, tmp_path, capsys, fmt,
                                                                          precision):
    out = tmp_path / "SST-2.tsv"
    predict.main(["--model_dir", exports[fmt, precision], "--task_name", "SST-2",
                  "--input", os.path.join(sst2_dir, "dev.tsv"), "--split", "dev", "--output", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 1 + 96
    assert [line.split("\t")[0] for line in lines[1:]] == [str(i) for i in range(96)]
    assert {line.split("\t")[1] for line in lines[1:]} <= {"0", "1"}
    assert "dev: {'acc':" in capsys.readouterr().err


def fake_onnx_export(folder):
    """An export folder as the ONNX export leaves it, without running the export (any stack)."""
    folder.mkdir(exist_ok=True)
    (folder / inference.EXPORT_INFO).write_text(json.dumps({"format": "onnx", "precision": "int8",
                                                            "engine": "onnxruntime", "program": "model.onnx"}))
    (folder / inference.ONNX_FILE).write_bytes(b"")
    return str(folder)


def test_missing_onnxruntime_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(SystemExit) as e:
        predict.main(["--model_dir", fake_onnx_export(tmp_path / "x"), "--task_name", "sst-2"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "needs onnxruntime, which is not installed" in err
    assert "requirements-deploy.txt" in err


@pytest.mark.skipif(not paddle_compat.ONNX_EXPORT, reason="ONNX export needs Paddle 3.x (see the next test)")
def test_missing_paddle2onnx_is_one_line_before_any_work(teacher_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)
    with pytest.raises(SystemExit) as e:
        export_model.main(["--model_dir", teacher_dir, "--output_dir", str(tmp_path / "out"), "--precision", "int8"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: --format onnx --precision int8 needs paddle2onnx")
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(paddle_compat.ONNX_EXPORT, reason="this Paddle exports ONNX (the refusal is Paddle 2.6's)")
def test_onnx_export_on_paddle_2_6_is_one_line(teacher_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        export_model.main(["--model_dir", teacher_dir, "--output_dir", str(tmp_path / "out"), "--format", "onnx"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error: --format onnx: paddle2onnx exports Paddle 3.x programs only")


def test_int8_in_the_paddle_format_is_refused_in_one_line(teacher_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        export_model.main(["--model_dir", teacher_dir, "--output_dir", str(tmp_path / "out"),
                           "--format", "paddle", "--precision", "int8"])
    assert e.value.code == 2 and capsys.readouterr().err.startswith("error: --precision int8 is exported in the onnx")


def test_incomplete_export_folders_are_one_line(tmp_path):
    no_model = fake_onnx_export(tmp_path / "no_model")
    os.remove(os.path.join(no_model, inference.ONNX_FILE))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / inference.EXPORT_INFO).write_text("{not json")
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "predict.py"), "--task_name", "sst-2", "--model_dir"]
    for folder, says in ((no_model, "incomplete export, export.json says onnx but model.onnx is missing"),
                         (str(broken), "export.json is not a JSON object")):
        proc = subprocess.run(cmd + [folder], input="a fine film\n", capture_output=True, text=True)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == f"error: --model_dir {folder}: {says}" + (
            "; re-export with scripts/export_model.py")
