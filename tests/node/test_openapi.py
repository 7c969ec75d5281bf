"""The node's HTTP API fuzzed from its own OpenAPI description (schemathesis): whatever a
client sends, anonymous or signed in, no answer is a 5xx, and every answer matches what the
description promises."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from beacon.nodes import build
from oncofed.node.app import create_app

CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.content_type_conformance]


def fuzz(app, headers: dict, examples: int = 25) -> list[str]:
    """Every operation of the app's OpenAPI description, called with generated requests."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen = []
    for found in schema.get_all_operations():
        operation = found.ok()
        seen.append(operation.label)

        @given(operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
    return seen


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    return build(tmp_path_factory.mktemp("openapi-node"))


@pytest.mark.parametrize("caller", ["anonymous", "researcher"])
def test_no_request_makes_the_node_fail_or_break_its_contract(node, caller):
    app = create_app(node.home)
    headers = {"Authorization": f"Bearer {node.token('fuzz')}"} if caller == "researcher" else {}
    with TestClient(app):  # the app's lifespan
        operations = fuzz(app, headers)
    assert "POST /node/requests" in operations and any(o.startswith("GET /api/") for o in operations)
