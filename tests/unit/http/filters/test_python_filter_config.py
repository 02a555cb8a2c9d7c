"""The Python filter's config: parsing (module or path, class, the config map, per route), and the
validation that loads the operator's class in a fresh interpreter, each problem at its field path
with the file:line it came from."""
import json
import textwrap
from pathlib import Path

import pytest

from hotproxy.config import parse_text
from hotproxy.config.http_filters.python import ConfigMap, Python, PythonPerRoute
from hotproxy.config.parse_http_filters import FilterConfig
from hotproxy.errors import ConfigError
from hotproxy.process.validate import check_text

PYTHON_TYPE = "type.googleapis.com/hotproxy.filters.python.v1.Python"
HCM_TYPE = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager")
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HCM = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
FILTER = f"{HCM}.http_filters[0].typed_config"
ROOT = Path(__file__).resolve().parents[4]


def bootstrap(typed_config, per_route=None):
    route = {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}
    if per_route is not None:
        route["typed_per_filter_config"] = {"py": per_route}
    return json.dumps({"static_resources": {
        "listeners": [{"name": "http", "address": {"socket_address": {"address": "127.0.0.1",
                                                                        "port_value": 10000}},
                       "filter_chains": [{"filters": [{
                           "name": "envoy.filters.network.http_connection_manager",
                           "typed_config": {
                               "@type": HCM_TYPE, "stat_prefix": "ingress",
                               "route_config": {"virtual_hosts": [{"name": "app", "domains": ["*"],
                                                                   "routes": [route]}]},
                               "http_filters": [
                                   {"name": "py", "typed_config": {"@type": PYTHON_TYPE, **typed_config}},
                                   {"name": "envoy.filters.http.router",
                                    "typed_config": {"@type": ROUTER_TYPE}}]}}]}]}],
        "clusters": [{"name": "backend", "connect_timeout": "1s", "type": "STATIC",
                      "load_assignment": {"cluster_name": "backend", "endpoints": [{"lb_endpoints": [
                          {"endpoint": {"address": {"socket_address": {
                              "address": "127.0.0.1", "port_value": 8080}}}}]}]}}]}})


def problems(text, check=parse_text):
    with pytest.raises(ConfigError) as info:
        check(text)
    return info.value.problems


def the_filter(parsed):
    return parsed.listeners[0].filter_chains[0].filters[0].http_filters[0]


def test_module_class_and_config_are_parsed_frozen():
    parsed = parse_text(bootstrap({"module": "ops.filters", "class": "Canary",
                                   "config": {"percent": 10, "users": ["a", "b"], "nested": {"x": 1}}}))
    entry = the_filter(parsed)
    assert entry.name == "py"
    config = entry.config
    assert config == Python("Canary", module="ops.filters",
                            config=ConfigMap(percent=10, users=("a", "b"), nested=ConfigMap(x=1)))
    assert config.runtime == "python" and config.source == "ops.filters"
    assert hash(config) == hash(parse_text(bootstrap({"module": "ops.filters", "class": "Canary", "config": {
        "percent": 10, "users": ["a", "b"], "nested": {"x": 1}}})).listeners[0]
        .filter_chains[0].filters[0].http_filters[0].config)
    with pytest.raises(TypeError):
        config.config["percent"] = 20


def test_path_and_camel_case():
    config = the_filter(parse_text(bootstrap({"path": "filters/jwt.py", "class": "Jwt"}))).config
    assert config == Python("Jwt", path="filters/jwt.py") and config.config == {}


@pytest.mark.parametrize("typed_config,at,reason", [
    ({"class": "F"}, FILTER, "exactly one of module, path is required"),
    ({"module": "a", "path": "b.py", "class": "F"}, FILTER, "only one of module, path"),
    ({"module": "a"}, f"{FILTER}.class", "required field is missing"),
    ({"module": "a-b", "class": "F"}, f"{FILTER}.module", "not a dotted module name"),
    ({"module": "a..b", "class": "F"}, f"{FILTER}.module", "not a dotted module name"),
    ({"module": "", "class": "F"}, f"{FILTER}.module", "must not be empty"),
    ({"module": "a", "class": "1F"}, f"{FILTER}.class", "not a class name"),
    ({"module": "a", "class": "F", "config": [1]}, f"{FILTER}.config", "expected a mapping"),
    ({"module": "a", "class": "F", "extra": 1}, f"{FILTER}.extra", "unknown field 'extra'"),
], ids=["neither", "both", "no-class", "dash", "dots", "empty", "class-name", "config-list", "unknown"])
def test_bad_fields(typed_config, at, reason):
    found = problems(bootstrap(typed_config))
    assert any(path == at and reason in why for path, why in found), found


def test_per_route_config():
    route = parse_text(bootstrap({"module": "a", "class": "F"},
                                 per_route={"@type": PYTHON_TYPE, "config": {"percent": 50}}))
    table = route.listeners[0].filter_chains[0].filters[0].route_config
    assert dict(table.virtual_hosts[0].routes[0].typed_per_filter_config) == {
        "py": PythonPerRoute(ConfigMap(percent=50))}
    wrapped = parse_text(bootstrap({"module": "a", "class": "F"}, per_route={
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}))
    vhost = wrapped.listeners[0].filter_chains[0].filters[0].route_config.virtual_hosts[0]
    assert dict(vhost.routes[0].typed_per_filter_config) == {"py": FilterConfig(None, True)}


def test_per_route_config_cannot_name_another_class():
    found = problems(bootstrap({"module": "a", "class": "F"},
                               per_route={"@type": PYTHON_TYPE, "module": "b", "config": {}}))
    at = f"{HCM}.route_config.virtual_hosts[0].routes[0].typed_per_filter_config.py.module"
    assert any(path == at and "only config may be set per route" in why for path, why in found), found


# -- loading the class, as --mode validate, startup and reloads do ------------------------------

def write(tmp_path, source, name="op_filter.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def one_problem(typed_config):
    [(path, reason)] = problems(bootstrap(typed_config), check_text)
    return path, reason


def test_a_good_filter_validates(tmp_path):
    path = write(tmp_path, """
        class F:
            def __init__(self, config):
                assert config == {"a": [1]}
    """)
    check_text(bootstrap({"path": path, "class": "F", "config": {"a": [1]}}))


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "x = 1\n\ndef broken(:\n    pass\n")
    at, reason = one_problem({"path": path, "class": "F"})
    assert at == f"{FILTER}.path"
    assert f"importing {path} raised SyntaxError" in reason and f"({path}:3)" in reason


def test_an_exception_at_import_names_the_line(tmp_path):
    path = write(tmp_path, "import os\nVALUE = int('nope')\n")
    at, reason = one_problem({"path": path, "class": "F"})
    assert at == f"{FILTER}.path" and "ValueError" in reason and f"({path}:2)" in reason


def test_a_missing_dependency_names_the_import_line(tmp_path):
    path = write(tmp_path, "\n\nimport surely_not_installed_xyz\n")
    at, reason = one_problem({"path": path, "class": "F"})
    assert "No module named 'surely_not_installed_xyz'" in reason and f"({path}:3)" in reason


def test_a_missing_module(tmp_path):
    at, reason = one_problem({"module": "surely_not_a_module_xyz.filters", "class": "F"})
    assert at == f"{FILTER}.module"
    assert "no module named 'surely_not_a_module_xyz' on the workers' sys.path" in reason


def test_a_missing_file(tmp_path):
    at, reason = one_problem({"path": str(tmp_path / "nope.py"), "class": "F"})
    assert at == f"{FILTER}.path" and "no such file" in reason


def test_a_missing_class(tmp_path):
    path = write(tmp_path, "class G:\n    pass\n")
    assert one_problem({"path": path, "class": "F"}) == (f"{FILTER}.class", f"{path} has no class 'F'")


def test_not_a_class(tmp_path):
    path = write(tmp_path, "def F(config):\n    pass\n")
    at, reason = one_problem({"path": path, "class": "F"})
    assert at == f"{FILTER}.class" and "not a class but a function" in reason


def test_an_exception_in_the_constructor_names_the_line(tmp_path):
    path = write(tmp_path, """
        class F:
            def __init__(self, config):
                self.limit = config["limit"]
    """)
    at, reason = one_problem({"path": path, "class": "F", "config": {}})
    assert at == f"{FILTER}.class"
    assert reason == f"F(config) of {path} raised KeyError: 'limit' ({path}:4)"


def test_a_module_that_exits_or_prints_at_import(tmp_path):
    printing = write(tmp_path, "print('hello from import')\nclass F:\n    def __init__(self, c):\n"
                               "        pass\n", "printing.py")
    check_text(bootstrap({"path": printing, "class": "F"}))
    exiting = write(tmp_path, "import sys\nsys.exit(4)\n", "exiting.py")
    at, reason = one_problem({"path": exiting, "class": "F"})
    assert at == f"{FILTER}.path" and "SystemExit: 4" in reason


def test_a_module_on_the_working_directorys_path(tmp_path, monkeypatch):
    (tmp_path / "opmod").mkdir()
    (tmp_path / "opmod" / "__init__.py").write_text("")
    write(tmp_path / "opmod", "class F:\n    def __init__(self, config):\n        pass\n", "f.py")
    monkeypatch.chdir(tmp_path)
    check_text(bootstrap({"module": "opmod.f", "class": "F"}))


@pytest.mark.parametrize("name", ["canary.yaml", "jwt_claims.yaml"])
def test_the_examples_validate_from_the_repository_root(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    from hotproxy.config import effective_text
    text, _unknown = effective_text(str(ROOT / "deploy" / "python-filters" / name))
    check_text(text)
