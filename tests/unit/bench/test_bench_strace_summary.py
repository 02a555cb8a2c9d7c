"""count_per_request.py reads strace -c's table: calls per system call."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

from strace_summary import parse_strace_summary  # noqa: E402

# strace 6.1's summary of a traced gevent worker, with a message strace writes to the same file
SUMMARY = """\
strace: Process 4242 attached
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 41.20    0.010000          11       860           sendto
 30.00    0.007000           8       860        12 recvfrom
 20.00    0.004000           4       860           epoll_ctl
  8.80    0.002000           5       430           poll
------ ----------- ----------- --------- --------- ----------------
100.00    0.023000           7      3010        12 total
"""


def test_calls_and_errors_by_syscall_without_the_total():
    counts = parse_strace_summary(SUMMARY)
    assert counts == {"sendto": (860, 0), "recvfrom": (860, 12), "epoll_ctl": (860, 0), "poll": (430, 0)}


def test_a_syscall_listed_twice_is_added_up():
    text = SUMMARY + "  1.00    0.000100           1        40           poll\n"
    assert parse_strace_summary(text)["poll"] == (470, 0)


def test_an_empty_trace_counts_nothing():
    assert parse_strace_summary("% time     seconds  usecs/call     calls    errors syscall\n") == {}
