"""OS file locks that say who holds them: one builder per shared cache folder, one run per output folder.

A lock is `fcntl.flock` on a small file. The kernel releases it when its holder dies, even by
kill -9, so a crashed process never leaves a stale lock behind (a pid file or an O_EXCL marker
would). The holder writes its pid, host and start time into the file so that whoever finds the
lock taken can say for whom it waits. Lock files are never deleted: removing one while another
process waits on it would let a third process lock a new file of the same name, and two would
then hold "the" lock. On NFS, Linux turns flock into byte-range locks, which the server arbitrates.
"""
import contextlib
import fcntl
import json
import os
import socket
import time

from errors import InputError


class FileLock:
    """An exclusive flock on `path` (created if missing), held by this process until release()."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.held = False

    def _open(self):
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_acquire(self):
        """Take the lock if free; False when another process holds it."""
        self._open()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        self._write_holder()
        return True

    def acquire(self):
        """Wait until the lock is free, then take it."""
        self._open()
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.held = True
        self._write_holder()

    def release(self):
        if self.held:  # our record goes first: a waiter that looks before the next holder writes must not name us
            os.ftruncate(self.fd, 0)
            self.held = False
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor of the open file drops the flock
            self.fd = None

    def _write_holder(self):
        # Write first, then cut the tail of a longer record left by a holder killed with -9 (no release).
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}) + "\n"
        os.pwrite(self.fd, record.encode(), 0)
        os.ftruncate(self.fd, len(record.encode()))

    def holder(self, patience=2.0):
        """{"pid", "host", "since"} of the process holding the lock, or None if it has not written it within
        `patience` seconds (it writes right after taking the lock; a reader can come in between)."""
        deadline = time.monotonic() + patience
        while True:
            record = self._read_holder()
            if record is not None or time.monotonic() >= deadline:
                return record
            time.sleep(0.05)

    def _read_holder(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                record = json.load(f)
            return record if isinstance(record, dict) and {"pid", "host", "since"} <= set(record) else None
        except (OSError, ValueError):
            return None


def describe(holder):
    """'process 1234 (started 10:31)', naming the host when it is not this one."""
    if holder is None:
        return "another process"
    host = "" if holder["host"] == socket.gethostname() else f" on {holder['host']}"
    started = time.strftime("%H:%M", time.localtime(holder["since"]))
    return f"process {holder['pid']}{host} (started {started})"


@contextlib.contextmanager
def held(path, on_wait):
    """Hold the lock at `path` for the with-block; if another process holds it, call on_wait(holder) and wait."""
    lock = FileLock(path)
    try:
        if not lock.try_acquire():
            on_wait(lock.holder())
            lock.acquire()
        yield lock
    finally:
        lock.release()


@contextlib.contextmanager
def output_dir_claimed(path):
    """Own OUTPUT_DIR/.lock for the with-block, which gets True if OUTPUT_DIR was made now; InputError at once
    if another live run owns it.

    Taken before anything is written to the folder, so a refused run touches nothing of the
    running one (only the lock file, which both open and neither changes while the other holds it).
    """
    lock = FileLock(os.path.join(path, ".lock"))
    created = not os.path.isdir(path)  # also True for a run that started at the same moment, but it loses the lock
    try:
        os.makedirs(path, exist_ok=True)
        free = lock.try_acquire()
    except OSError as e:
        lock.release()
        raise InputError(f"--output_dir {path}: not writable ({e.strerror})") from e
    try:
        if not free:
            raise InputError(f"--output_dir {path} is in use by {describe(lock.holder())}; "
                             f"wait for it or choose another folder")
        yield created
    finally:
        lock.release()


def check_writable(path, flag):
    """Create `path` if needed and write a file into it; InputError naming the flag when that fails."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write_test.{os.getpid()}")  # one per process: ranks probe at once
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        raise InputError(f"{flag} {path}: not writable ({e.strerror})") from e
