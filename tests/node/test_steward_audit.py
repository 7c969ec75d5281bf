"""A steward reads their node's audit log through the hub: the node answers an ``audit`` request
only from its own hub, only for a researcher whose steward role for this node the hub vouches
for inside its signed envelope, and logs the reading itself."""

import pytest

from oncofed.auth import envelope, keys, tokens
from oncofed.node import audit
from oncofed.node.handler import Node
from oncofed.node.home import HubTrust

HUB = "test-hub"


@pytest.fixture
def served(node):
    hub_key = keys.generate()
    home = node.save(node.config.model_copy(update={"hub": HubTrust(id=HUB, public_key=keys.public_b64(hub_key))}))
    with home.store() as store:
        audit.append(store.con, {"requester": f"{HUB}:alice", "kind": "count@1", "outcome": "released",
                                 "request_digest": "sha256:x", "datasets": {"ds": "h1"}})
    n = Node.open(home)
    yield n, hub_key
    n.close()


def ask(n, hub_key, body, sender=HUB):
    return n.handle(envelope.seal(body, sender, n.home.id, hub_key))["body"]


def steward(n):
    return [{"role": "researcher", "scope": ""}, {"role": "steward", "scope": n.home.id}]


def test_a_steward_of_this_node_reads_its_log_and_the_reading_is_logged(served):
    n, hub_key = served
    token = tokens.issue(hub_key, HUB, "stella", 600)
    got = ask(n, hub_key, {"kind": "audit", "token": token, "roles": steward(n)})
    assert got["status"] == "ok" and got["node"] == n.home.id
    assert [(e["seq"], e["kind"], e["requester"]) for e in got["entries"]] == [(1, "count@1", f"{HUB}:alice")]
    again = ask(n, hub_key, {"kind": "audit", "token": token, "roles": steward(n), "last": 1})
    assert [(e["kind"], e["requester"], e["released"]) for e in again["entries"]] == \
        [("audit", f"{HUB}:stella", {"entries": 1})]


@pytest.mark.parametrize("roles", [
    [{"role": "researcher", "scope": ""}],
    [{"role": "steward", "scope": "another-node"}],
    [{"role": "dac", "scope": "test-node/ds"}, {"role": "admin", "scope": ""}],
    "steward",
    None,
])
def test_without_the_hubs_word_that_they_steward_this_node_nobody_reads_it(served, roles):
    n, hub_key = served
    got = ask(n, hub_key, {"kind": "audit", "token": tokens.issue(hub_key, HUB, "eve", 600), "roles": roles})
    assert got == {"status": "refused", "reason": f"only a steward of node {n.home.id!r} may read its audit log"}
    assert "entries" not in got


def test_a_bad_token_or_another_hub_is_refused(served):
    n, hub_key = served
    other = keys.generate()
    refused = ask(n, hub_key, {"kind": "audit", "token": tokens.issue(other, HUB, "stella", 600), "roles": steward(n)})
    assert refused["status"] == "refused" and "entries" not in refused
    with pytest.raises(envelope.UnknownSender):
        ask(n, other, {"kind": "audit", "token": tokens.issue(other, "other-hub", "x", 600), "roles": steward(n)},
            sender="other-hub")
    with pytest.raises(envelope.BadSignature):  # the hub's name, but not its key: roles cannot be forged
        ask(n, other, {"kind": "audit", "token": tokens.issue(hub_key, HUB, "x", 600), "roles": steward(n)})
    assert [e.outcome for e in audit.entries(n.con) if e.kind == "audit"] == ["refused"]  # the bad token
