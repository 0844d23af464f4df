"""Kill-and-resume equivalence, checkpoint integrity, and bad input that must not end in a traceback."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from runtime import checkpoint
import run_patient_kd
from conftest import ROOT, common_args

STEPS = 300


def pkd_args(sst2_dir, tiny_bert, teacher_dir, out, *extra):
    return common_args(sst2_dir, tiny_bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
                       "--num_layers_of_student_model", "2", "--alpha", "0.5", "--T", "5", "--beta", "100",
                       "--max_steps", str(STEPS), "--save_steps", "20", "--eval_steps", "50", "--logging_steps", "50",
                       *extra)


def final_weights(out):
    with np.load(os.path.join(out, f"checkpoint-{STEPS}", "model.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def uninterrupted(sst2_dir, tiny_bert, teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    return run_patient_kd.main(pkd_args(sst2_dir, tiny_bert, teacher_dir, out)), out


def run_cli(argv):
    """results.json of a run in a fresh process (stdout and stderr discarded)."""
    subprocess.run([sys.executable, os.path.join(ROOT, "run_patient_kd.py"), *argv], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = argv[argv.index("--output_dir") + 1]
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def assert_same_run(result, out, reference):
    ref_result, ref_out = reference
    assert result["finished"]
    assert (result["best_metric"], result["best_step"]) == (ref_result["best_metric"], ref_result["best_step"])
    assert [h["acc"] for h in result["history"]] == [h["acc"] for h in ref_result["history"]]
    got, want = final_weights(out), final_weights(ref_out)
    assert got.keys() == want.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-6, rtol=0, err_msg=k)


def test_sigkill_then_resume_matches_an_uninterrupted_run(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    # Every run in a fresh process: once a paddle.inference predictor exists in a process (other tests
    # make some), its eager matmuls round differently in the last bits on MKL's AVX2 path.
    argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "killed")
    reference_argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "whole")
    reference = run_cli(reference_argv), str(tmp_path / "whole")
    killed_at = kill_after_checkpoint(argv, tmp_path / "killed", 100)
    assert 100 <= killed_at < STEPS
    assert_same_run(run_cli(argv), str(tmp_path / "killed"), reference)


def kill_after_checkpoint(argv, out, step, timeout=120):
    """Start run_patient_kd.py ARGV in a process, kill -9 it once OUT/checkpoint-STEP exists; the newest
    checkpoint's step then."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_patient_kd.py"), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not os.path.isdir(os.path.join(out, f"checkpoint-{step}")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return max(int(p.rsplit("-", 1)[1]) for p in checkpoint.list_checkpoints(str(out)))


def test_corrupted_checkpoint_is_reported_and_skipped(sst2_dir, tiny_bert, teacher_dir, tmp_path, uninterrupted):
    argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path, "--save_total_limit", "3")
    run_patient_kd.main(argv)
    final, newest, older = checkpoint.list_checkpoints(str(tmp_path))
    shutil.rmtree(final)  # as if killed before the last save
    with open(os.path.join(newest, "model.npz"), "r+b") as f:
        f.seek(200)
        f.write(b"garbage")
    assert checkpoint.verify_checkpoint(newest) == "model.npz does not match its checksum"
    assert_same_run(run_patient_kd.main(argv), str(tmp_path), uninterrupted)
    log = open(tmp_path / "train.log").read()
    assert f"not resuming from {newest}: model.npz does not match its checksum" in log
    assert f"resumed from {older}" in log


def test_half_written_checkpoint_is_not_trusted(tmp_path):
    half = tmp_path / "checkpoint-5"
    half.mkdir()
    (half / "model.npz").write_bytes(b"partial")
    assert "no manifest" in checkpoint.verify_checkpoint(str(half))


def test_resume_refuses_a_different_configuration(sst2_dir, tiny_bert, teacher_dir, tmp_path, capsys):
    argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path, "--max_steps", "20")
    run_patient_kd.main(argv)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(argv[:-2] + ["--max_steps", "20", "--alpha", "0.9"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "different run" in err and "--alpha 0.5 vs 0.9" in err


def test_resume_flag_without_checkpoint(sst2_dir, tiny_bert, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path), "--num_layers_of_student_model", "2",
                                        "--resume"))
    assert e.value.code == 2 and "--resume: no intact checkpoint" in capsys.readouterr().err


def test_non_finite_loss_stops_with_the_step_and_parts(sst2_dir, tiny_bert, teacher_dir, tmp_path, capsys):
    from model_folders import safe_weights

    poisoned = tmp_path / "poisoned_teacher"
    shutil.copytree(teacher_dir, poisoned)
    state = safe_weights.read_safetensors(str(poisoned / "model.safetensors"))
    state["classifier.bias"] = np.full_like(state["classifier.bias"], np.nan)
    safe_weights.write_safetensors(state, str(poisoned / "model.safetensors"))  # the teacher's logits are NaN
    argv = pkd_args(sst2_dir, tiny_bert, str(poisoned), tmp_path / "out")
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1
    assert err.startswith("error: non-finite loss at step 1") and "ce " in err and len(err.splitlines()) == 1
    assert checkpoint.list_checkpoints(str(tmp_path / "out")) == []


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(sst2_dir, tiny_bert, teacher_dir, tmp_path,
                                                               capsys, monkeypatch):
    real_savez, calls = np.savez, []

    def savez_then_disk_full(path, **arrays):
        calls.append(path)
        if len(calls) > 2:  # checkpoint-20 is written (model + optimizer), then the disk is full
            raise OSError(28, "No space left on device")
        real_savez(path, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez_then_disk_full)
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path, "--eval_steps", "20"))
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and "No space left on device" in err and "checkpoint-40" in err
    assert checkpoint.list_checkpoints(str(tmp_path)) == [str(tmp_path / "checkpoint-20")]
    assert checkpoint.verify_checkpoint(str(tmp_path / "checkpoint-20")) is None
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))
    assert os.path.isfile(tmp_path / "best_model" / "model.safetensors")


def test_unwritable_output_dir(sst2_dir, tiny_bert, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(common_args(sst2_dir, tiny_bert, str(tmp_path / "a_file" / "out")))
    assert e.value.code == 2 and "--output_dir" in capsys.readouterr().err


def test_teacher_of_another_architecture_is_reported(sst2_dir, tiny_bert, teacher_dir, tmp_path, capsys):
    from demo_assets import write_tiny_bert

    other = write_tiny_bert(str(tmp_path / "wide"), num_layers=4, hidden_size=48, heads=2)
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(common_args(sst2_dir, other, str(tmp_path / "out"), "--alpha", "0.5",
                                        "--teacher_finetuned_model_path", teacher_dir,
                                        "--num_layers_of_student_model", "2"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "hidden_size=48" in err and "--teacher_finetuned_model_path" in err


def test_checkpoint_holds_no_pickle(uninterrupted):
    _, out = uninterrupted
    path = os.path.join(out, f"checkpoint-{STEPS}")
    assert sorted(os.listdir(path)) == ["manifest.json", "model.npz", "optimizer.json", "optimizer.npz",
                                        "trainer_state.json"]
    for name in ("model.npz", "optimizer.npz"):
        with np.load(os.path.join(path, name), allow_pickle=False) as z:
            assert len(z.files) > 0
    assert json.load(open(os.path.join(path, "trainer_state.json")))["step"] == STEPS
    assert len(checkpoint.list_checkpoints(str(out))) == 2  # --save_total_limit default


def refused(argv, capsys):
    """The single stderr line of a run refused with exit status 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1, err
    return err


def copy_model(src, dst, config_changes=None, vocab=None):
    shutil.copytree(src, dst)
    if config_changes:
        config = json.load(open(os.path.join(dst, "config.json")))
        json.dump({**config, **config_changes}, open(os.path.join(dst, "config.json"), "w"))
    if vocab is not None:
        with open(os.path.join(dst, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write(vocab)
    return str(dst)


def test_max_seq_length_beyond_a_position_table_is_refused_before_anything_is_written(
        sst2_dir, tiny_bert, teacher_dir, tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    err = refused(common_args(sst2_dir, tiny_bert, str(out), "--max_seq_length", "200", "--teacher_cache_dir",
                              str(cache)), capsys)
    assert err == f"error: --max_seq_length 200 is larger than the position table of --model_name_or_path " \
                  f"{tiny_bert} (max_position_embeddings 128)"
    short_teacher = copy_model(teacher_dir, tmp_path / "teacher", {"max_position_embeddings": 64})
    err = refused(pkd_args(sst2_dir, tiny_bert, short_teacher, out, "--max_seq_length", "100",
                           "--teacher_cache_dir", str(cache)), capsys)
    assert err == f"error: --max_seq_length 100 is larger than the position table of " \
                  f"--teacher_finetuned_model_path {short_teacher} (max_position_embeddings 64)"
    assert not out.exists() and not cache.exists()


def test_unwritable_teacher_cache_dir_is_refused(sst2_dir, tiny_bert, teacher_dir, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    err = refused(pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "out", "--teacher_cache_dir",
                           str(tmp_path / "a_file" / "cache")), capsys)
    assert err == f"error: --teacher_cache_dir {tmp_path / 'a_file' / 'cache'}: not writable (Not a directory)"
    assert not (tmp_path / "out").exists()


def test_broken_model_folders_are_reported_in_one_line(sst2_dir, tiny_bert, tmp_path, capsys):
    out = tmp_path / "out"
    empty_vocab = copy_model(tiny_bert, tmp_path / "empty_vocab", vocab="")
    assert refused(common_args(sst2_dir, empty_vocab, str(out)), capsys) == \
        f"error: --model_name_or_path {empty_vocab}: vocab.txt is empty"
    words = open(os.path.join(tiny_bert, "vocab.txt"), encoding="utf-8").read()
    foreign_vocab = copy_model(tiny_bert, tmp_path / "foreign_vocab", vocab=words + "extra\n")
    assert refused(common_args(sst2_dir, foreign_vocab, str(out)), capsys) == \
        f"error: the vocabulary has 48 tokens but --model_name_or_path {foreign_vocab} has only 47 word " \
        f"embeddings (vocab_size): vocab.txt is not this model's"
    wider = copy_model(tiny_bert, tmp_path / "wider", {"hidden_size": 64, "intermediate_size": 128})
    assert refused(common_args(sst2_dir, wider, str(out), "--num_layers_of_student_model", "2"), capsys) == \
        f"error: --model_name_or_path {wider}: config.json and the weights disagree: " \
        f"embeddings.word_embeddings.weight is [47, 32] in the weights but [47, 64] by config.json"
    assert not out.exists()


def test_damaged_teacher_cache_is_reported_rebuilt_and_never_trained_on(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    cache = tmp_path / "cache"
    argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path / "first", "--max_steps", "20",
                    "--teacher_cache_dir", str(cache))
    first = run_patient_kd.main(argv)
    folder = cache / first["teacher_cache"][:24]
    good = (folder / "cls.npy").read_bytes()
    (folder / "cls.npy").write_bytes(good[:len(good) // 2])  # as a copy cut short
    argv[argv.index("--output_dir") + 1] = str(tmp_path / "second")
    second = run_patient_kd.main(argv)
    log = open(tmp_path / "second" / "train.log").read()
    assert f"teacher cache: {folder} cannot be used (cls.npy does not match its checksum); rebuilding it" in log
    assert (folder / "cls.npy").read_bytes() == good
    assert second["train_log"] == first["train_log"] and second["history"] == first["history"]


def test_a_checkpoint_from_before_the_newer_flags_still_resumes(sst2_dir, tiny_bert, teacher_dir, tmp_path):
    """Checkpoints written before a run-defining key existed (own-data flags, the task) count as its default."""
    import glob
    import json

    argv = pkd_args(sst2_dir, tiny_bert, teacher_dir, tmp_path, "--max_steps", "20", "--save_steps", "10")
    run_patient_kd.main(argv)
    for folder in glob.glob(str(tmp_path / "checkpoint-*")):
        state = json.load(open(os.path.join(folder, "trainer_state.json")))
        for key in ("task", "label_column", "task_type", "train_file", "metric_for_best"):
            state["config"].pop(key)
        json.dump(state, open(os.path.join(folder, "trainer_state.json"), "w"), indent=1)
        manifest = json.load(open(os.path.join(folder, checkpoint.MANIFEST)))
        file = os.path.join(folder, "trainer_state.json")
        manifest["trainer_state.json"] = {"size": os.path.getsize(file), "sha256": checkpoint.file_sha256(file)}
        json.dump(manifest, open(os.path.join(folder, checkpoint.MANIFEST), "w"))
    run_patient_kd.main(argv)
    assert "resumed from" in open(tmp_path / "train.log").read()
