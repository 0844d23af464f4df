"""Shared cache folders and output folders under concurrency: one builder, waiters that reuse, kills that leave
nothing usable behind, damaged folders rebuilt; a second run on a busy output folder refused."""
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

import disk_cache
import file_lock
from args import InputError
from conftest import ROOT

# A process that builds (or reuses) one cache folder of two arrays. Its build blocks until the file GATE
# exists, so the test decides how long the lock is held, and can kill the builder in the middle.
WORKER = """
import logging, os, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import disk_cache
folder, gate = sys.argv[1], sys.argv[2]
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
def build(tmp):
    np.save(os.path.join(tmp, "a.npy"), np.arange(1000, dtype=np.float32))
    while not os.path.exists(gate):
        time.sleep(0.01)
    np.save(os.path.join(tmp, "b.npy"), np.ones((3, 4), dtype=np.int8))
    return {{"built_by": os.getpid()}}
print(disk_cache.obtain(folder, build, ["a.npy", "b.npy"], logging.getLogger("w"), "test cache"), flush=True)
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
import file_lock
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
