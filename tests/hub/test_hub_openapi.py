"""The hub's HTTP API fuzzed from its own OpenAPI description (schemathesis), on SQLite and
PostgreSQL, anonymous and signed in: no answer is a 5xx, every answer matches the description."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from fuzzing import fuzz
from oncofed.auth import tokens
from oncofed.hub import home
from oncofed.hub.app import create_app
from oncofed.hub.store import HubStore


@pytest.mark.parametrize("caller", ["anonymous", "researcher"])
def test_no_request_makes_the_hub_fail_or_break_its_contract(tmp_path, hub_db, caller, monkeypatch):
    monkeypatch.setenv("ONCOFED_CATALOGUE_HARVEST_S", "0")
    hub = home.init(tmp_path / "hub", "Fuzzed hub", "fuzz-hub", hub_db)
    store = HubStore(hub_db)
    try:
        user = store.add_user("fuzzer")
    finally:
        store.dispose()
    token = tokens.issue(hub.private_key, hub.config.id, user, timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"} if caller == "researcher" else {}
    app = create_app(hub.path, hub_db)
    with TestClient(app):
        operations = fuzz(app, headers, examples=15)
    assert {"POST /api/analyses", "POST /api/relay/poll", "GET /api/individuals"} <= set(operations)
