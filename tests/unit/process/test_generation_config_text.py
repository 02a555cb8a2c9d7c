"""A generation's config memfd (process/generation.py): what its workers read, and replacing it
for the respawns to come while a worker already started keeps its own copy."""
import os

import pytest

from hotproxy.config.bootstrap import Bootstrap
from hotproxy.process.generation import Generation


def read(fd):
    return os.pread(fd, os.fstat(fd).st_size, 0).decode()


def test_replace_config_text_swaps_in_a_new_memfd_and_closes_the_old_one():
    generation = Generation(3, Bootstrap(), "first", 1, {})
    old = generation.config_fd
    inherited = os.dup(old)          # what a worker spawned before the swap holds
    try:
        generation.replace_config_text("second")
        assert generation.config_fd != old and read(generation.config_fd) == "second"
        assert read(inherited) == "first"
        with pytest.raises(OSError):
            os.fstat(old)            # closed (the new memfd was made first: no reuse of its number)
        assert not os.get_inheritable(generation.config_fd)
    finally:
        os.close(inherited)
        generation.close()
    assert generation.config_fd is None


def test_a_generation_holds_no_discovery_until_given_some():
    generation = Generation(1, Bootstrap(), "", 2, {})
    try:
        assert (generation.dns, generation.health, generation.outliers) == ({}, {}, {})
        assert generation.dns is not Generation(2, Bootstrap(), "", 1, {}).dns
    finally:
        generation.close()
