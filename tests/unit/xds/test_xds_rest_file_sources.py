"""XdsClient polling a real HTTP server (REST-JSON) and watching real files replaced with
os.replace: the requests' versions, 304, rejected bodies keeping the previous set, and moves
into a watched directory."""
import json
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format
from xds_client_fakes import Recorder, cluster, sotw_response

from hotproxy.xds import type_urls
from hotproxy.xds.client import XdsClient
from hotproxy.xds.sources import FileSource, RestSource

CDS = type_urls.CLUSTER.type_url
NODE = {"id": "proxy-1", "cluster": "edge"}


class RestControlPlane:
    """Records each POST (path, parsed JSON body) and answers with the next scripted
    (status, body), or 304 when there is none."""

    def __init__(self):
        self.requests = queue.Queue()
        self.replies = queue.Queue()
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                plane.requests.put((self.path, self.headers["Content-Type"], json.loads(body)))
                try:
                    status, reply = plane.replies.get_nowait()
                except queue.Empty:
                    status, reply = 304, b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def reply(self, status, response=None):
        body = b"" if response is None else json.dumps(
            response if isinstance(response, dict) else json_format.MessageToDict(response)
        ).encode()
        self.replies.put((status, body))

    def next_request(self, timeout=5.0):
        return self.requests.get(timeout=timeout)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rest():
    plane = RestControlPlane()
    yield plane
    plane.stop()


@pytest.fixture
def clients():
    made = []
    yield made
    for client in made:
        client.stop()


def start(clients, recorder, type_url, source, names=None):
    client = XdsClient(NODE, recorder.on_update, recorder.on_event)
    client.subscribe(type_url, source, names)
    client.start()
    clients.append(client)
    return client


def test_rest_polls_with_the_version_accepted(rest, clients):
    recorder = Recorder(lambda u: "no c2" if u.version_info == "c2" else None)
    rest.reply(200, sotw_response(CDS, "c1", "n1", cluster("a")))
    rest.reply(200, sotw_response(CDS, "c2", "n2", cluster("b")))
    client = start(clients, recorder, CDS, RestSource("127.0.0.1", rest.port,
                                                      refresh_delay_s=0.02))
    path, content_type, first = rest.next_request()
    assert (path, content_type) == ("/v3/discovery:clusters", "application/json")
    assert first["typeUrl"] == CDS and first["node"]["id"] == "proxy-1"
    assert "versionInfo" not in first
    assert client.wait_initial(5.0)
    assert sorted(recorder.next_update().resources) == ["a"]
    second = rest.next_request()[2]
    assert second["versionInfo"] == "c1" and "responseNonce" not in second
    assert sorted(recorder.next_update().resources) == ["b"]       # c2: rejected
    for _ in range(2):          # 304s after it: the version stays the last accepted
        request = rest.next_request()[2]
        assert request["versionInfo"] == "c1" and "errorDetail" not in request
    assert recorder.wait_event(lambda e: e["event"] == "nack")["error"] == "no c2"
    assert recorder.updates.empty()


def test_rest_bodies_that_are_no_response_and_failed_polls(rest, clients):
    recorder = Recorder()
    rest.reply(200, {"resources": "not a list"})
    rest.reply(503)
    rest.reply(200, {"version_info": "c1", "resources": [
        {"@type": CDS, "name": "a", "connect_timeout": "2s", "brand_new": {"x": 1}}]})
    start(clients, recorder, CDS, RestSource("127.0.0.1", rest.port, refresh_delay_s=0.02))
    nack = recorder.wait_event(lambda e: e["event"] == "nack")
    assert nack["error"].startswith("/v3/discovery:clusters: ")
    failure = recorder.wait_event(lambda e: e["event"] == "connection_failure")
    assert (failure["error"], failure["type_urls"]) == ("HTTP status 503", [CDS])
    entry = recorder.next_update().resources["a"]
    assert entry.body["connect_timeout"] == "2s"
    assert entry.unknown_fields == ("brand_new",)
    unknown = recorder.wait_event(lambda e: e["event"] == "unknown_fields")
    assert (unknown["name"], unknown["paths"]) == ("a", ["brand_new"])


def test_rest_without_a_server_fails_each_poll(clients):
    recorder = Recorder()
    plane = RestControlPlane()
    port = plane.port
    plane.stop()
    start(clients, recorder, CDS, RestSource("127.0.0.1", port, refresh_delay_s=0.01))
    recorder.wait_count("connection_failure", 2)


def write_response(path, response, fmt=None):
    """Writes next to ``path``, then moves it there: the one replacement Envoy sees."""
    temporary = f"{path}.tmp"
    if fmt == "pb":
        with open(temporary, "wb") as file:
            file.write(response.SerializeToString())
    else:
        text = json.dumps(json_format.MessageToDict(response, preserving_proto_field_name=True))
        with open(temporary, "w") as file:
            file.write(text)
    os.replace(temporary, path)


def test_a_file_is_read_again_when_replaced(tmp_path, clients):
    recorder = Recorder()
    path = str(tmp_path / "cds.json")
    write_response(path, sotw_response(CDS, "c1", "", cluster("a")))
    client = start(clients, recorder, CDS, FileSource(path))
    assert client.wait_initial(5.0)
    assert sorted(recorder.next_update().resources) == ["a"]
    write_response(path, sotw_response(CDS, "c2", "", cluster("a"), cluster("b")))
    update = recorder.next_update()
    assert (update.version_info, update.added_or_changed) == ("c2", ("b",))
    assert [e["version_info"] for e in recorder.named("ack")] == ["c1", "c2"]


def test_a_bad_or_rejected_file_keeps_the_previous_set(tmp_path, clients):
    recorder = Recorder(lambda u: "refused" if "bad" in u.resources else None)
    path = str(tmp_path / "cds.yaml")
    with open(path, "w") as file:
        file.write(f"version_info: c1\nresources:\n- '@type': {CDS}\n  name: a\n"
                   f"  connect_timeout: 1s\n")
    start(clients, recorder, CDS, FileSource(path))
    assert sorted(recorder.next_update().resources) == ["a"]

    with open(f"{path}.tmp", "w") as file:
        file.write("resources: [unclosed\n")
    os.replace(f"{path}.tmp", path)
    assert "invalid YAML" in recorder.wait_event(lambda e: e["event"] == "nack")["error"]

    write_response(path, sotw_response(CDS, "c3", "", cluster("bad")))
    assert sorted(recorder.next_update().resources) == ["bad"]
    recorder.wait_count("nack", 2)

    write_response(path, sotw_response(CDS, "c4", "", cluster("a"), cluster("b")))
    update = recorder.next_update()
    # measured against c1's {a}: neither failed read was applied
    assert (update.added_or_changed, update.removed) == (("b",), ())


def test_a_watched_directory_reloads_on_any_move_into_it(tmp_path, clients):
    recorder = Recorder()
    data = tmp_path / "data"
    data.mkdir()
    path = str(tmp_path / "cds.pb")
    write_response(path, sotw_response(CDS, "c1", "", cluster("a")), fmt="pb")
    start(clients, recorder, CDS, FileSource(path, watched_directory=str(data)))
    assert recorder.next_update().version_info == "c1"
    # written in place (not seen by itself as a move would be), then announced by a move into
    # the watched directory, as a Kubernetes ConfigMap's ..data swap does
    with open(path, "r+b") as file:
        file.write(sotw_response(CDS, "c2", "", cluster("b")).SerializeToString())
    (data / "flag.tmp").write_text("x")
    os.replace(data / "flag.tmp", data / "flag")
    update = recorder.next_update()
    assert update.version_info == "c2" and sorted(update.resources) == ["b"]


def test_binary_file_unknown_fields_and_no_file(tmp_path, clients):
    recorder = Recorder()
    path = str(tmp_path / "missing.pb")
    client = start(clients, recorder, CDS, FileSource(path))
    assert client.wait_initial(5.0)
    nack = recorder.wait_event(lambda e: e["event"] == "nack")
    assert "No such file" in nack["error"]
    assert recorder.wait_event(lambda e: e["event"] == "initial_fetch_done")["reason"] == \
        "rejected"
    message = discovery_pb2.DiscoveryResponse(type_url=CDS, version_info="c1")
    message.resources.add(type_url=CDS, value=cluster("a").SerializeToString() + b"\xb8\x3e\x01")
    write_response(path, message, fmt="pb")
    assert recorder.next_update().resources["a"].unknown_fields == ("#999",)
