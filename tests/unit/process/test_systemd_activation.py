"""Socket activation (process/systemd_activation.py): what systemd's environment says, which
passed socket serves which listener, and how the arbiter's ListenSockets keeps them across
reloads (process/listen_sockets.py)."""
import os
import socket
from types import SimpleNamespace

import pytest

from hotproxy.config.core import SocketAddress
from hotproxy.process.generation import READY, STOPPED
from hotproxy.process.listen_sockets import ListenSockets
from hotproxy.process.systemd_activation import (ActivatedSockets, ActivationError, Inherited, describe, match,
                                                 parse_environment)

# --- the environment


def test_descriptors_start_at_3_with_their_names():
    environ = {"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "ingress:admin"}
    assert parse_environment(environ, 42) == [(3, "ingress"), (4, "admin")]


def test_without_names_every_descriptor_is_unknown_as_systemd_says():
    assert parse_environment({"LISTEN_PID": "7", "LISTEN_FDS": "2"}, 7) == [(3, "unknown"), (4, "unknown")]


def test_descriptors_meant_for_another_process_are_not_ours():
    assert parse_environment({"LISTEN_PID": "41", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x"}, 42) == []


def test_no_variables_no_descriptors():
    assert parse_environment({}, 42) == []


@pytest.mark.parametrize("environ, reason", [
    ({"LISTEN_PID": "42", "LISTEN_FDS": "two"}, "not numbers"),
    ({"LISTEN_PID": "x", "LISTEN_FDS": "1"}, "not numbers"),
    ({"LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "one"}, "1 names for LISTEN_FDS=2"),
])
def test_malformed_variables_are_refused_with_the_reason(environ, reason):
    with pytest.raises(ActivationError, match=reason):
        parse_environment(environ, 42)


def test_the_variables_are_cleared_so_that_no_child_takes_them_again():
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x", "PATH": "/bin"}
    activated = ActivatedSockets.from_environment(environ)  # pid 1 is not us: nothing taken
    assert environ == {"PATH": "/bin"}
    assert not activated


# --- matching


def passed(fd, name, address=None, unusable=None):
    return Inherited(fd, name, address, unusable)


def test_a_listener_takes_the_socket_named_as_it_is_wherever_it_is_bound():
    inherited = [passed(3, "web", ("::", 80)), passed(4, "api", ("0.0.0.0", 8443))]
    chosen = match([("api", "0.0.0.0", 10000), ("web", "0.0.0.0", 80)], inherited)
    assert {name: item.fd for name, item in chosen.items()} == {"api": 4, "web": 3}


def test_without_a_name_a_listener_takes_the_socket_at_its_address_however_written():
    inherited = [passed(3, "hotproxy.socket", ("127.0.0.1", 8080)), passed(4, "hotproxy.socket", ("::", 9090))]
    chosen = match([("a", "127.0.0.1", 8080), ("b", "0:0::0", 9090), ("c", "127.0.0.1", 7070)], inherited)
    assert {name: item.fd for name, item in chosen.items()} == {"a": 3, "b": 4}


def test_a_name_beats_an_address_and_a_socket_serves_one_listener():
    # "other" is bound where "first" is configured, but "first" is named by fd 4; fd 3 is then
    # free for the listener configured at its address
    inherited = [passed(3, "other", ("127.0.0.1", 80)), passed(4, "first", ("127.0.0.1", 81))]
    chosen = match([("first", "127.0.0.1", 80), ("second", "127.0.0.1", 80)], inherited)
    assert {name: item.fd for name, item in chosen.items()} == {"first": 4, "second": 3}


def test_of_several_sockets_named_alike_the_one_at_the_listeners_address_wins():
    inherited = [passed(3, "web", ("0.0.0.0", 80)), passed(4, "web", ("::", 80))]
    assert match([("web", "::", 80)], inherited)["web"].fd == 4
    assert match([("web", "10.0.0.1", 80)], inherited)["web"].fd == 3


def test_port_0_and_unusable_sockets_never_match():
    inherited = [passed(3, "udp", unusable="not a stream socket"), passed(4, "x", ("127.0.0.1", 5000))]
    assert match([("udp", "127.0.0.1", 53), ("y", "127.0.0.1", 0)], inherited) == {}


# --- what the kernel says of a descriptor


def test_a_listening_tcp_socket_is_described_by_its_address():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert describe(sock.fileno(), "web") == Inherited(sock.fileno(), "web", ("127.0.0.1", sock.getsockname()[1]))


def test_what_cannot_serve_a_listener_says_why():
    with socket.socket() as bound, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        bound.bind(("127.0.0.1", 0))
        assert describe(bound.fileno(), "a").unusable == "not listening"
        assert describe(udp.fileno(), "b").unusable == "not a stream socket"
    left, right = socket.socketpair()
    with left, right:
        assert describe(left.fileno(), "c").unusable == "a AF_UNIX socket, not TCP"
    read, write = os.pipe()
    os.close(write)
    assert describe(read, "d").unusable == "not a socket"
    os.close(read)
    assert describe(read, "e").unusable.startswith("not open")


# --- ListenSockets with activated sockets


def listening(port=0):
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def activated_from(*named_sockets):
    """ActivatedSockets over duplicates of ``named_sockets`` [(name, sock)], as if passed."""
    return ActivatedSockets(describe(os.dup(sock.fileno()), name) for name, sock in named_sockets)


def config(*listeners):
    return SimpleNamespace(listeners=[SimpleNamespace(name=name, address=SocketAddress("127.0.0.1", port))
                                      for name, port in listeners])


def generation(sockets, state=READY):
    return SimpleNamespace(sockets=sockets, state=state)


def never_binds(address):
    raise AssertionError(f"bound {address} though a passed socket serves it")


def port_of(sock):
    return sock.getsockname()[1]


def test_listeners_serve_on_passed_sockets_which_outlive_the_listeners_leaving():
    web, spare = listening(), listening()
    sockets = ListenSockets(never_binds, activated_from(("web", web), ("spare", spare)))
    first = sockets.bind(config(("web", 1)))       # by name, wherever configured
    assert port_of(first["web"]) == port_of(web)

    # a reload without "web": its socket stays open though no generation uses it
    sockets.close_unused([generation(first, STOPPED), generation({})])
    assert first["web"].fileno() >= 0

    # a later reload adds it back, and another listener finds "spare" by its address
    again = sockets.bind(config(("web", 1), ("other", port_of(spare))))
    assert again["web"] is first["web"]
    assert port_of(again["other"]) == port_of(spare)
    with socket.create_connection(("127.0.0.1", port_of(web))):
        connection, _ = again["web"].accept()  # the very socket systemd listens on
        connection.close()
    sockets.close_all()
    web.close()
    spare.close()


def test_listeners_no_passed_socket_serves_bind_as_before():
    web = listening()
    bound = []

    def bind(address):
        bound.append(address.port)
        return listening()

    sockets = ListenSockets(bind, activated_from(("web", web)))
    by_name = sockets.bind(config(("web", 0), ("api", 0)))
    assert bound == [0]
    assert port_of(by_name["web"]) == port_of(web)
    sockets.close_all()
    web.close()


def test_a_successor_epoch_asking_by_a_listeners_address_gets_the_passed_socket():
    web, unused = listening(), listening()
    sockets = ListenSockets(never_binds, activated_from(("web", web), ("x", unused)))
    by_name = sockets.bind(config(("web", 7)))       # configured at port 7, served by "web"
    assert sockets.get(("127.0.0.1", 7)) is by_name["web"]
    assert port_of(sockets.get(("127.0.0.1", port_of(unused)))) == port_of(unused)
    assert sockets.get(("127.0.0.1", 9)) is None
    sockets.close_all()
    web.close()
    unused.close()
