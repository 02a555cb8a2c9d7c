"""The config parser on structured input: valid seed configs edited at a few places (see
fuzzkit/config_trees.py), parsed as ``parse_text`` parses what YAML read. A ConfigError's
problems must name places that exist in the tree."""
from hypothesis import HealthCheck, given, settings

from fuzzkit.config_checks import check_paths_lead_into, parsed_or_problems
from fuzzkit.config_trees import edited_trees
from hotproxy.config import parse_bootstrap

MAX_LEN = 4096


@settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited_trees())
def _parse(tree):
    _, problems = parsed_or_problems(parse_bootstrap, tree)
    if problems:
        check_paths_lead_into(tree, problems)


check = _parse.hypothesis.fuzz_one_input
