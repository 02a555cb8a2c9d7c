"""The zygote's pieces that run in a forked child (process/zygote.py) and the arbiter's record of
a worker it did not start itself (spawn.ForkedProcess), on real processes."""
import os
import signal
import subprocess
import tempfile
import traceback

import pytest

from hotproxy.process.spawn import ForkedProcess
from hotproxy.process.zygote import _install_descriptors


def _in_child(body):
    """Run ``body()`` in a forked child; its exit status (0: every assertion held)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_received_descriptors_take_the_numbers_the_argv_names_and_nothing_else_stays_open():
    with tempfile.TemporaryFile() as first, tempfile.TemporaryFile() as second:
        stray = os.open("/dev/null", os.O_RDONLY)        # what the zygote held: must not leak
        received = [os.dup(first.fileno()), os.dup(second.fileno())]
        # the targets collide with the received ones, crosswise: a naive dup2 would clobber one
        targets = [received[1], received[0]]
        identities = [os.fstat(first.fileno()).st_ino, os.fstat(second.fileno()).st_ino]

        def body():
            _install_descriptors(received, targets)
            assert [os.fstat(fd).st_ino for fd in targets] == identities
            assert all(os.get_inheritable(fd) for fd in targets)
            listed = os.listdir("/proc/self/fd")
            open_now = {int(name) for name in listed if _is_open(int(name))}
            assert open_now - {0, 1, 2} == set(targets)
            with pytest.raises(OSError):
                os.fstat(stray)

        try:
            assert _in_child(body) == 0
        finally:
            for fd in (stray, *received):
                os.close(fd)


def _is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False    # listdir's own descriptor, closed by the time it returns
    return True


def _child(*argv):
    """A child process that only ForkedProcess reaps (a dropped Popen would reap it itself)."""
    return os.posix_spawnp(argv[0], argv, os.environ)


def test_a_forked_process_reports_its_exit_status():
    process = ForkedProcess(_child("sh", "-c", "exit 3"))
    assert process.wait(timeout=10) == 3
    assert process.poll() == 3


def test_a_forked_process_is_killed_and_times_out_as_popen_does():
    process = ForkedProcess(_child("sleep", "30"))
    assert process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.05)
    process.terminate()
    assert process.wait(timeout=10) == -signal.SIGTERM
    process.kill()      # gone already: no signal to a reused pid
    assert process.returncode == -signal.SIGTERM


def test_a_pid_that_is_not_our_child_counts_as_gone():
    assert ForkedProcess(1).poll() == -1
