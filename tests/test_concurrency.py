"""Shared cache folders and output folders under concurrency: one builder, waiters that reuse, kills that leave
nothing usable behind, damaged folders rebuilt; a second run on a busy output folder refused."""
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from runtime import disk_cache
from runtime import file_lock
from errors import InputError
from conftest import ROOT, common_args

# A process that builds (or reuses) one cache folder of two arrays. Its build blocks until the file GATE
# exists, so the test decides how long the lock is held, and can kill the builder in the middle.
WORKER = """
import logging, os, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from runtime import disk_cache
folder, gate = sys.argv[1], sys.argv[2]
log = logging.getLogger("worker")  # its own handler: importing paddle may already have configured the root logger
log.addHandler(logging.StreamHandler(sys.stdout))
log.setLevel(logging.INFO)
def build(tmp):
    np.save(os.path.join(tmp, "a.npy"), np.arange(1000, dtype=np.float32))
    while not os.path.exists(gate):
        time.sleep(0.01)
    np.save(os.path.join(tmp, "b.npy"), np.ones((3, 4), dtype=np.int8))
    return {{"built_by": os.getpid()}}
print(disk_cache.obtain(folder, build, ["a.npy", "b.npy"], log, "test cache"), flush=True)
"""


@pytest.fixture
def start_worker():
    """start(folder, gate, log) -> a worker process, its output in the file `log` (a pipe could block the test);
    workers still alive when the test ends, e.g. on a failed assertion, are killed."""
    started = []

    def start(folder, gate, log):
        with open(log, "w") as f:
            started.append(subprocess.Popen([sys.executable, "-c", WORKER.format(root=ROOT), str(folder), str(gate)],
                                            stdout=f, stderr=subprocess.STDOUT, text=True))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish(proc, log):
    proc.wait(timeout=120)
    return open(log).read()


def wait_for(condition, what, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def tmp_folders(folder):
    parent, name = os.path.split(str(folder))
    return [n for n in os.listdir(parent) if n.startswith(name + ".tmp")]


def build_alone(folder):
    def build(tmp):
        np.save(os.path.join(tmp, "a.npy"), np.arange(1000, dtype=np.float32))
        np.save(os.path.join(tmp, "b.npy"), np.ones((3, 4), dtype=np.int8))
        return {}

    return disk_cache.obtain(str(folder), build, ["a.npy", "b.npy"], logging.getLogger("t"), "test cache")


def test_one_process_builds_and_the_other_waits_then_reuses(tmp_path, start_worker):
    folder, gate = tmp_path / "cache" / "key", tmp_path / "gate"
    first = start_worker(folder, gate, tmp_path / "first.log")
    wait_for(lambda: os.path.isdir(folder.parent) and tmp_folders(folder), "the first worker to start building")
    second = start_worker(folder, gate, tmp_path / "second.log")
    wait_for(lambda: "waiting for" in open(tmp_path / "second.log").read() or second.poll() is not None,
             "the second worker to wait")
    gate.touch()
    out_first, out_second = finish(first, tmp_path / "first.log"), finish(second, tmp_path / "second.log")
    assert f"test cache: waiting for process {first.pid} (started " in out_second
    assert first.returncode == second.returncode == 0, out_first + out_second
    assert "reusing" not in out_first and f"'built_by': {first.pid}" in out_first
    assert "built meanwhile by another process" in out_second and f"'built_by': {first.pid}" in out_second
    assert tmp_folders(folder) == []
    alone = tmp_path / "alone" / "key"
    build_alone(alone)
    for name in ("a.npy", "b.npy"):
        assert (folder / name).read_bytes() == (alone / name).read_bytes()


def test_a_builder_killed_mid_build_leaves_nothing_used_and_the_next_process_builds(tmp_path, caplog, start_worker):
    folder, gate = tmp_path / "key", tmp_path / "gate"
    victim = start_worker(folder, gate, tmp_path / "victim.log")
    wait_for(lambda: tmp_folders(folder) and os.path.exists(folder.parent / tmp_folders(folder)[0] / "a.npy"),
             "the worker to write its first array")
    victim.kill()
    victim.wait()
    assert not folder.exists() and tmp_folders(folder) == [f"key.tmp.{victim.pid}"]
    assert disk_cache.verify(str(folder), ["a.npy"]) == "not built"
    caplog.set_level(logging.INFO)
    meta = build_alone(folder)  # the dead builder's lock was released by the kernel: no wait
    assert set(meta["arrays"]) == {"a.npy", "b.npy"} and tmp_folders(folder) == []
    assert f"removing {folder}.tmp.{victim.pid}, left by a build that did not finish" in caplog.text
    assert "waiting" not in caplog.text


def damage_truncate(folder):
    path = folder / "a.npy"
    path.write_bytes(path.read_bytes()[:-10])


def damage_meta_shape(folder):
    meta = json.loads((folder / "meta.json").read_text())
    meta["arrays"]["b.npy"]["shape"] = [4, 3]
    (folder / "meta.json").write_text(json.dumps(meta))


def damage_meta_json(folder):
    (folder / "meta.json").write_text("{not json")


def damage_array_bytes(folder):
    data = bytearray((folder / "b.npy").read_bytes())
    data[-1] ^= 1
    (folder / "b.npy").write_bytes(bytes(data))


@pytest.mark.parametrize("damage,problem", [
    (damage_truncate, "a.npy does not match its checksum"),
    (damage_meta_shape, "b.npy has shape [3, 4] |i1, meta.json says [4, 3] |i1"),
    (damage_meta_json, "unreadable meta.json"),
    (damage_array_bytes, "b.npy does not match its checksum"),
    (lambda folder: (folder / "meta.json").unlink(), "no meta.json"),
])
def test_a_damaged_folder_is_reported_and_rebuilt(tmp_path, caplog, damage, problem):
    folder = tmp_path / "key"
    build_alone(folder)
    good = {n: (folder / n).read_bytes() for n in ("a.npy", "b.npy")}
    damage(folder)
    assert disk_cache.verify(str(folder), ["a.npy", "b.npy"]).startswith(problem)
    caplog.set_level(logging.INFO)
    build_alone(folder)
    assert f"test cache: {folder} cannot be used ({problem}" in caplog.text
    assert disk_cache.verify(str(folder), ["a.npy", "b.npy"]) is None
    assert {n: (folder / n).read_bytes() for n in good} == good


def test_a_required_array_missing_from_meta_is_not_trusted(tmp_path):
    folder = tmp_path / "key"
    build_alone(folder)
    assert disk_cache.verify(str(folder), ["a.npy", "c.npy"]) == "meta.json lists no c.npy"


HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from runtime import file_lock
with file_lock.output_dir_claimed(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_busy_output_folder_is_refused_and_freed_by_the_holders_death(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=ROOT), str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(InputError) as e:
            with file_lock.output_dir_claimed(str(out)):
                pass
        assert re.fullmatch(rf"--output_dir {re.escape(str(out))} is in use by process {holder.pid} "
                            r"\(started \d\d:\d\d\); wait for it or choose another folder", str(e.value))
    finally:
        holder.kill()
        holder.wait()
    with file_lock.output_dir_claimed(str(out)):  # kill -9 released it
        assert os.listdir(out) == [".lock"]



def test_a_waiter_names_a_holder_that_writes_its_record_just_after_taking_the_lock(tmp_path):
    import threading

    path = str(tmp_path / "x.lock")
    late = file_lock.FileLock(path)
    late._open()  # the lock file exists but holds no record yet, as just after a holder's flock
    writer = threading.Timer(0.3, late._write_holder)
    writer.start()
    try:
        assert file_lock.FileLock(path).holder()["pid"] == os.getpid()
    finally:
        writer.join()
        late.release()
    open(path, "w").close()
    started = time.monotonic()
    assert file_lock.FileLock(path).holder(patience=0.2) is None  # nobody ever writes: "another process"
    assert 0.2 <= time.monotonic() - started < 2


def test_a_released_lock_names_nobody(tmp_path):
    path = str(tmp_path / "x.lock")
    lock = file_lock.FileLock(path)
    assert lock.try_acquire() and lock.holder()["pid"] == os.getpid()
    lock.release()  # a waiter that looks before the next holder writes its record must not name this process
    assert file_lock.FileLock(path).holder(patience=0.1) is None


# ---- Whole runs, each in a fresh process with one thread, sharing one teacher cache.

def run_argv(data_dir, tiny_bert, teacher_dir, out, cache, seed):
    return [os.path.join(ROOT, "run_patient_kd.py"),
            *common_args(data_dir, tiny_bert, str(out), "--teacher_finetuned_model_path", teacher_dir,
                         "--num_layers_of_student_model", "2", "--alpha", "0.5", "--T", "5", "--beta", "100",
                         "--max_steps", "20", "--teacher_cache_dir", str(cache), "--seed", str(seed))]


@pytest.fixture
def start_run():
    """start(argv, log) -> a training process (output in the file `log`); any still alive at the end are killed."""
    started = []

    def start(argv, log):
        with open(log, "w") as f:
            started.append(subprocess.Popen([sys.executable, *argv], stdout=f, stderr=subprocess.STDOUT,
                                            env={**os.environ, "OMP_NUM_THREADS": "1"}))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()


def results(out):
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def teacher_tmp_folder(cache):
    """(path, pid) of a teacher-cache folder being built, or None."""
    names = [n for n in os.listdir(cache) if ".tmp." in n] if os.path.isdir(cache) else []
    return (os.path.join(cache, names[0]), int(names[0].rsplit(".", 1)[1])) if names else None


def pause_the_builder(cache):
    """SIGSTOP the process building the teacher cache, caught in the act; its pid."""
    wait_for(lambda: teacher_tmp_folder(cache), "a teacher cache build to start", timeout=600)
    tmp, pid = teacher_tmp_folder(cache)
    os.kill(pid, signal.SIGSTOP)
    assert os.path.isdir(tmp), "the build ended before it could be paused"
    return pid


def hold_the_build_until_the_other_waits(cache, procs, log_of):
    """With two runs {key: process} started together: SIGSTOP the one building the teacher cache until the other's
    train.log (log_of(key)) shows it waiting for the builder, naming it; then let it go on. The waiter's key."""
    builder = pause_the_builder(cache)
    (waiter,) = [key for key, p in procs.items() if p.pid != builder]
    wait_for(lambda: os.path.isfile(log_of(waiter)) and
             f"teacher cache: waiting for process {builder} " in open(log_of(waiter)).read(),
             "the other run to wait for the builder, naming it", timeout=600)
    os.kill(builder, signal.SIGCONT)
    return waiter


def teacher_arrays(cache):
    (folder,) = [n for n in os.listdir(cache) if os.path.isdir(os.path.join(cache, n)) and n != "encoded"]
    return {name: open(os.path.join(cache, folder, name), "rb").read() for name in ("logits.npy", "cls.npy")}


@pytest.fixture(scope="module")
def big_sst2(tmp_path_factory):
    # Enough training examples that building the teacher cache takes long enough to be caught (~1 s).
    from demo_assets import write_sst2_layout

    path = str(tmp_path_factory.mktemp("data_big") / "SST-2")
    write_sst2_layout(path, num_train=6000, num_dev=96, num_test=0, seed=2)
    return path


@pytest.fixture(scope="module")
def one_after_the_other(big_sst2, tiny_bert, teacher_dir, tmp_path_factory):
    """Seeds 1 and 2 run one after the other on one cache: {seed: results}, and the cache's arrays."""
    base = tmp_path_factory.mktemp("sequential")
    done = {}
    for seed in (1, 2):
        out = base / f"seed{seed}"
        subprocess.run([sys.executable, *run_argv(big_sst2, tiny_bert, teacher_dir, out, base / "cache", seed)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        done[seed] = results(out)
    return done, teacher_arrays(base / "cache")


def assert_same_training(result, reference):
    assert result["finished"]
    assert result["train_log"] == reference["train_log"] and result["history"] == reference["history"]
    assert result["best_metric"] == reference["best_metric"]


def test_two_runs_started_together_share_one_cache_and_train_what_they_train_alone(
        big_sst2, tiny_bert, teacher_dir, tmp_path, start_run, one_after_the_other):
    reference, reference_arrays = one_after_the_other
    cache = tmp_path / "cache"
    procs = {seed: start_run(run_argv(big_sst2, tiny_bert, teacher_dir, tmp_path / f"seed{seed}", cache, seed),
                             tmp_path / f"seed{seed}.out") for seed in (1, 2)}
    waiter = hold_the_build_until_the_other_waits(cache, procs, lambda seed: tmp_path / f"seed{seed}" / "train.log")
    for seed, proc in procs.items():
        assert proc.wait(timeout=600) == 0, open(tmp_path / f"seed{seed}.out").read()[-3000:]
        assert_same_training(results(tmp_path / f"seed{seed}"), reference[seed])
    logs = {seed: open(tmp_path / f"seed{seed}" / "train.log").read() for seed in procs}
    (built,) = [seed for seed in logs if "teacher cache: computing the teacher's outputs" in logs[seed]]
    assert built != waiter and "built meanwhile by another process" in logs[waiter]
    assert teacher_arrays(cache) == reference_arrays  # byte for byte


def test_a_run_killed_while_building_the_cache_leaves_nothing_used(
        big_sst2, tiny_bert, teacher_dir, tmp_path, start_run, one_after_the_other):
    reference, reference_arrays = one_after_the_other
    cache = tmp_path / "cache"
    victim = start_run(run_argv(big_sst2, tiny_bert, teacher_dir, tmp_path / "killed", cache, 1),
                       tmp_path / "killed.out")
    assert pause_the_builder(cache) == victim.pid
    victim.kill()  # SIGKILL, mid-build
    victim.wait()
    assert [n for n in os.listdir(cache) if n != "encoded" and not n.endswith(".lock")] == \
        [os.path.basename(teacher_tmp_folder(cache)[0])]  # only the dead builder's temporary folder
    after = start_run(run_argv(big_sst2, tiny_bert, teacher_dir, tmp_path / "after", cache, 1), tmp_path / "after.out")
    assert after.wait(timeout=600) == 0, open(tmp_path / "after.out").read()[-3000:]
    log = open(tmp_path / "after" / "train.log").read()
    assert f".tmp.{victim.pid}, left by a build that did not finish" in log and "computing the teacher's" in log
    assert teacher_tmp_folder(cache) is None
    assert_same_training(results(tmp_path / "after"), reference[1])
    assert teacher_arrays(cache) == reference_arrays


def test_a_second_run_on_a_busy_output_folder_is_refused_and_the_first_finishes_unharmed(
        big_sst2, tiny_bert, teacher_dir, tmp_path, start_run, one_after_the_other, capsys):
    import run_patient_kd

    reference, _ = one_after_the_other
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = start_run(run_argv(big_sst2, tiny_bert, teacher_dir, out, cache, 1), tmp_path / "first.out")
    wait_for(lambda: os.path.isfile(out / "train.log") and "args" in open(out / "train.log").read(),
             "the first run to start logging", timeout=600)
    os.kill(first.pid, signal.SIGSTOP)  # still running, whatever the speed of this machine
    before = {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)}
    with pytest.raises(SystemExit) as e:
        run_patient_kd.main(run_argv(big_sst2, tiny_bert, teacher_dir, out, cache, 99)[1:])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2
    assert re.fullmatch(rf"error: --output_dir {re.escape(str(out))} is in use by process {first.pid} "
                        r"\(started \d\d:\d\d\); wait for it or choose another folder", err), err
    assert {n: os.stat(out / n).st_mtime_ns for n in os.listdir(out)} == before
    os.kill(first.pid, signal.SIGCONT)
    assert first.wait(timeout=600) == 0, open(tmp_path / "first.out").read()[-3000:]
    assert_same_training(results(out), reference[1])
    assert "'seed': 99" not in open(out / "train.log").read()


def test_two_runs_with_a_transfer_set_started_together_share_one_cache_and_train_alike(
        big_sst2, tiny_bert, teacher_dir, tmp_path, start_run):
    cache, transfer = tmp_path / "cache", os.path.join(big_sst2, "train.tsv")  # its labels are ignored
    argv = {name: run_argv(big_sst2, tiny_bert, teacher_dir, tmp_path / name, cache, 1) +
            ["--transfer_file", transfer, "--eval_overlap", "drop"] for name in ("a", "b")}
    procs = {name: start_run(argv[name], tmp_path / f"{name}.out") for name in argv}
    waiter = hold_the_build_until_the_other_waits(cache, procs, lambda name: tmp_path / name / "train.log")
    for name, proc in procs.items():
        assert proc.wait(timeout=600) == 0, open(tmp_path / f"{name}.out").read()[-3000:]
    a, b = results(tmp_path / "a"), results(tmp_path / "b")
    assert_same_training(b, a)
    assert "built meanwhile by another process" in open(tmp_path / waiter / "train.log").read()
    rows = a["transfer_examples"] + 6000
    assert np.load(io.BytesIO(teacher_arrays(cache)["logits.npy"])).shape[0] == rows  # labelled + transfer, once
