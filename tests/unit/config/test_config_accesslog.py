"""Access logs of HTTP connection managers and TCP proxies: what each logger and format parses
into, and every rejection with its field path (Envoy 1.40 accepts and refuses the same)."""
import pytest

from hotproxy.config.accesslog import AccessLog, LogFormat

from config_helpers import DELETE, HCM, TCP_PROXY, Rejected, edited, ids, parse_with, problems_of

NOT_SUPPORTED = "not supported by hotproxy yet"
FILE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
STDERR = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog"
LOG = f"{HCM}.access_log[0].typed_config"
TCP_LOG = f"{TCP_PROXY}.access_log[0].typed_config"


def file_log(**fields):
    return {"name": "envoy.access_loggers.file",
            "typed_config": {"@type": FILE, "path": "/var/log/access.log", **fields}}


def stdout_log(**fields):
    return {"name": "envoy.access_loggers.stdout", "typed_config": {"@type": STDOUT, **fields}}


def hcm_logs(*logs):
    return parse_with({f"{HCM}.access_log": list(logs)}).listeners[0].filter_chains[0].filters[0]


def test_no_access_log_by_default():
    bootstrap = parse_with({})
    assert bootstrap.listeners[0].filter_chains[0].filters[0].access_log == ()
    assert bootstrap.listeners[1].filter_chains[0].filters[0].access_log == ()


def test_file_stdout_and_stderr_loggers():
    hcm = hcm_logs(file_log(), stdout_log(),
                   {"typed_config": {"@type": STDERR}})    # a name is optional
    assert hcm.access_log == (AccessLog("file", path="/var/log/access.log"),
                              AccessLog("stdout"), AccessLog("stderr"))


def test_tcp_proxy_access_log():
    bootstrap = parse_with({f"{TCP_PROXY}.access_log": [stdout_log()]})
    assert bootstrap.listeners[1].filter_chains[0].filters[0].access_log == (AccessLog("stdout"),)


FORMATS = {
    "text_format_source": (
        {"log_format": {"text_format_source": {"inline_string": "%PROTOCOL%\n"}}},
        LogFormat(text="%PROTOCOL%\n")),
    "text_format": ({"log_format": {"text_format": "%PROTOCOL%"}}, LogFormat(text="%PROTOCOL%")),
    "empty text": ({"log_format": {"text_format_source": {"inline_string": ""}}},
                   LogFormat(text="")),
    "json_format": ({"log_format": {"json_format": {"code": "%RESPONSE_CODE%", "n": {"a": 1}}}},
                    LogFormat(json={"code": "%RESPONSE_CODE%", "n": {"a": 1}})),
    "omit_empty_values": ({"log_format": {"text_format": "x", "omit_empty_values": True}},
                          LogFormat(text="x", omit_empty_values=True)),
    "accepted, no effect": ({"log_format": {"json_format": {}, "content_type": "text/plain",
                                            "json_format_options": {"sort_properties": False}}},
                            LogFormat(json={})),
    "deprecated format": ({"format": "%PROTOCOL%"}, LogFormat(text="%PROTOCOL%")),
    "deprecated json_format": ({"json_format": {"a": "%PROTOCOL%"}},
                               LogFormat(json={"a": "%PROTOCOL%"})),
    "deprecated typed_json_format": ({"typed_json_format": {"a": "%PROTOCOL%"}},
                                     LogFormat(json={"a": "%PROTOCOL%"})),
    "camelCase": ({"logFormat": {"textFormatSource": {"inlineString": "x"},
                                 "omitEmptyValues": True}},
                  LogFormat(text="x", omit_empty_values=True)),
}


@pytest.mark.parametrize("fields, log_format", FORMATS.values(), ids=FORMATS.keys())
def test_file_log_formats(fields, log_format):
    assert hcm_logs(file_log(**fields)).access_log[0].log_format == log_format


def test_stream_log_format():
    hcm = hcm_logs(stdout_log(log_format={"json_format": {"a": "%PROTOCOL%"}}))
    assert hcm.access_log[0] == AccessLog("stdout", log_format=LogFormat(json={"a": "%PROTOCOL%"}))


REJECTED = [
    Rejected({f"{HCM}.access_log": [{"name": "x"}]}, f"{HCM}.access_log[0].typed_config",
             "required field is missing"),
    Rejected({f"{HCM}.access_log": [{**file_log(), "filter": {"not_health_check_filter": {}}}]},
             f"{HCM}.access_log[0].filter", NOT_SUPPORTED),
    Rejected({f"{HCM}.access_log": [{"typed_config": {"@type": "type.googleapis.com/envoy."
                                                      "extensions.access_loggers.grpc.v3."
                                                      "HttpGrpcAccessLogConfig"}}]},
             f"{LOG}.@type", f"is {NOT_SUPPORTED} here"),
    Rejected({f"{HCM}.access_log": [file_log()], f"{LOG}.path": DELETE}, f"{LOG}.path",
             "required field is missing"),
    Rejected({f"{HCM}.access_log": [file_log(path="")]}, f"{LOG}.path", "must not be empty"),
    Rejected({f"{HCM}.access_log": [file_log(udp_proxy=True)]}, f"{LOG}.udp_proxy",
             "unknown field 'udp_proxy'"),
    Rejected({f"{HCM}.access_log": [stdout_log(format="x")]}, f"{LOG}.format",
             "unknown field 'format'"),
    Rejected({f"{HCM}.access_log": [file_log(format="a", log_format={"text_format": "a"})]}, LOG,
             "only one of format, json_format, typed_json_format, log_format may be set"),
    Rejected({f"{HCM}.access_log": [file_log(log_format={})]}, f"{LOG}.log_format",
             "exactly one of text_format, json_format, text_format_source is required"),
    Rejected({f"{HCM}.access_log": [file_log(log_format={"text_format": "a",
                                                         "json_format": {"a": "b"}})]},
             f"{LOG}.log_format", "only one of text_format, json_format, text_format_source"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format": "a",
                                                           "formatters": []})]},
             f"{LOG}.log_format.formatters", NOT_SUPPORTED),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format_source": {
        "filename": "/etc/format"}})]}, f"{LOG}.log_format.text_format_source.filename",
        NOT_SUPPORTED),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format_source": {}})]},
             f"{LOG}.log_format.text_format_source.inline_string", "required field is missing"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"json_format": "x"})]},
             f"{LOG}.log_format.json_format", "expected a mapping, got 'x'"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format": 5})]},
             f"{LOG}.log_format.text_format", "expected a string, got 5"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format": "a",
                                                           "omit_empty_values": "on"})]},
             f"{LOG}.log_format.omit_empty_values", "expected a boolean"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={
        "json_format": {"a": "b"}, "json_format_options": {"foo": True}})]},
        f"{LOG}.log_format.json_format_options.foo", "unknown field 'foo'"),
    # Command operators, at the string they are in.
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format_source": {
        "inline_string": "%FOO%"}})]}, f"{LOG}.log_format.text_format_source.inline_string",
        "unknown command operator %FOO%"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format_source": {
        "inline_string": "%UPSTREAM_PROTOCOL%"}})]},
        f"{LOG}.log_format.text_format_source.inline_string",
        f"command operator %UPSTREAM_PROTOCOL% is {NOT_SUPPORTED}"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"text_format": "%REQ(%"})]},
             f"{LOG}.log_format.text_format", "no command operator can be read at position 0"),
    Rejected({f"{HCM}.access_log": [file_log(format="%REQ%")]}, f"{LOG}.format",
             "%REQ% requires a header name"),
    Rejected({f"{HCM}.access_log": [stdout_log(log_format={"json_format": {
        "a": {"b": ["x", "%FOO%"]}}})]}, f"{LOG}.log_format.json_format.a.b[1]",
        "unknown command operator %FOO%"),
    Rejected({f"{HCM}.access_log": [file_log(typed_json_format={"a": "%PROTOCOL(x)%"})]},
             f"{LOG}.typed_json_format.a", "%PROTOCOL% takes no parameters and no length"),
    Rejected({f"{TCP_PROXY}.access_log": [stdout_log(log_format={"text_format": "%BAR%"})]},
             f"{TCP_LOG}.log_format.text_format", "unknown command operator %BAR%"),
    # What stays unsupported around access logs.
    Rejected({f"{HCM}.access_log_flush_interval": "1s"}, f"{HCM}.access_log_flush_interval",
             NOT_SUPPORTED),
    Rejected({f"{TCP_PROXY}.access_log_options": {}}, f"{TCP_PROXY}.access_log_options",
             NOT_SUPPORTED),
]


@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_rejected(case):
    case.check()


def test_every_bad_operator_of_a_config_is_reported():
    problems = problems_of(edited({f"{HCM}.access_log": [
        stdout_log(log_format={"json_format": {"a": "%FOO%", "b": "%BAR%"}}),
        stdout_log(log_format={"text_format": "%BAZ%"})]}))
    assert [path for path, _ in problems] == [
        f"{HCM}.access_log[0].typed_config.log_format.json_format.a",
        f"{HCM}.access_log[0].typed_config.log_format.json_format.b",
        f"{HCM}.access_log[1].typed_config.log_format.text_format"]
