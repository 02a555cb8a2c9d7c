"""A connection manager's request_id_extension: Envoy's UUID extension with its defaults (how
hotproxy makes and reads x-request-id) is taken, as istiod sends it; false options are refused
by name."""
import pytest

from config_helpers import HCM, Rejected, parse_with

UUID = "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"
EXT = f"{HCM}.request_id_extension"


@pytest.mark.parametrize("config", [
    {"@type": UUID}, {"@type": UUID, "use_request_id_for_trace_sampling": True},
    {"@type": UUID, "pack_trace_reason": True, "use_request_id_for_trace_sampling": True}])
def test_the_uuid_extension_with_its_defaults_is_taken(config):
    parse_with({EXT: {"typed_config": config}})


REJECTED = [
    Rejected({EXT: {"typed_config": {"@type": UUID, "pack_trace_reason": False}}},
             f"{EXT}.typed_config.pack_trace_reason", "false is not supported by hotproxy yet"),
    Rejected({EXT: {"typed_config": {"@type": UUID, "use_request_id_for_trace_sampling": False}}},
             f"{EXT}.typed_config.use_request_id_for_trace_sampling", "false is not supported"),
    Rejected({EXT: {"typed_config": {"@type": "type.googleapis.com/x.Other"}}},
             f"{EXT}.typed_config.@type", "unknown type URL"),
    Rejected({EXT: {}}, f"{EXT}.typed_config", "required field is missing"),
    Rejected({EXT: {"typed_config": {"@type": UUID, "bogus": 1}}}, f"{EXT}.typed_config.bogus",
             "unknown field"),
]


@pytest.mark.parametrize("case", REJECTED, ids=lambda case: case.at.rsplit(".", 1)[-1])
def test_rejected(case):
    case.check()
