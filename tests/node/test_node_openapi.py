"""The node's HTTP API fuzzed from its own OpenAPI description (schemathesis): whatever a
client sends, anonymous or signed in, no answer is a 5xx, and every answer matches what the
description promises."""

import pytest
from fastapi.testclient import TestClient

from beacon.nodes import build
from fuzzing import fuzz
from oncofed.node.app import create_app


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
