"""Reading format strings as Envoy 1.40's parser does: literals, %%, and operators with their
parameters and length."""
import pytest

from hotproxy.accesslog.syntax import Command, FormatError, tokenize

READ = {
    "": [],
    "plain": ["plain"],
    "100%%": ["100%"],
    "a%%b%%": ["a%b%"],
    "%PROTOCOL%": [Command("PROTOCOL", "", None, "%PROTOCOL%")],
    "[%START_TIME%] ": ["[", Command("START_TIME", "", None, "%START_TIME%"), "] "],
    "%REQ(USER-AGENT):10%": [Command("REQ", "USER-AGENT", 10, "%REQ(USER-AGENT):10%")],
    "%REQ(a?b)%%%": [Command("REQ", "a?b", None, "%REQ(a?b)%"), "%"],
    "%START_TIME()%": [Command("START_TIME", "", None, "%START_TIME()%")],
    # The parameters run to the first ")" after which the operator can end.
    "%REQ(a)b)%": [Command("REQ", "a)b", None, "%REQ(a)b)%")],
    "%START_TIME(%H:%M)%x": [Command("START_TIME", "%H:%M", None, "%START_TIME(%H:%M)%"), "x"],
    "%1%": [Command("1", "", None, "%1%")],
}


@pytest.mark.parametrize("text, tokens", READ.items(), ids=map(repr, READ))
def test_read(text, tokens):
    assert tokenize(text) == tokens


# Envoy: "Incorrect configuration: <format>. Couldn't find valid command at position <byte>"
UNREADABLE = {
    "%": 0, "abc%": 3, "%%%": 2, "%REQ(%": 0, "%REQ(a):xyz%": 0, "%req(a)%": 0, "% REQ%": 0,
    "%REQ(a)%%": 8, "%REQ(a\nb)%": 0, "%REQ(a):99999999999999999999999%": 0,
    "%START_TIME(%Y)%-%": 17, "é%": 2,
}


@pytest.mark.parametrize("text, position", UNREADABLE.items(), ids=map(repr, UNREADABLE))
def test_unreadable(text, position):
    with pytest.raises(FormatError, match=f"no command operator can be read at position "
                                          f"{position} "):
        tokenize(text)


def test_a_length_up_to_size_t_is_read():
    assert tokenize("%REQ(a):18446744073709551615%")[0].length == 2**64 - 1
