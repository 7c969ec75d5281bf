"""A steward sets what a dataset discloses through the Beacon: `oncofed node access`, shown by
`oncofed node show`, kept in the store across restarts."""

import json

from oncofed.model.schema import ACCESS_LEVELS
from oncofed.node import beacon


def test_a_dataset_starts_with_the_default_ceilings(node, cli):
    shown = json.loads(cli("node", "access", node.path, "ds", "--json").stdout)
    assert shown == {"dataset": "ds", "public": "boolean", "registered": "count", "controlled": "record",
                     "synthetic": False}


def test_the_steward_changes_the_ceilings_and_node_show_tells(node, cli):
    cli("node", "access", node.path, "ds", "--public", "count", "--synthetic")
    with node.store() as store:
        assert beacon.access(store.con)["ds"] == beacon.DatasetAccess("ds", "count", "count", "record", True)
    assert "Beacon: public count · registered count · controlled record; synthetic data" in \
        cli("node", "show", node.path, "ds").stdout.replace("\n", " ")
    assert json.loads(cli("node", "show", node.path, "ds", "--json").stdout)["access"]["public"] == "count"
    cli("node", "access", node.path, "ds", "--public", "boolean", "--real")
    with node.store() as store:
        assert beacon.access(store.con)["ds"] == beacon.DatasetAccess("ds")


def test_what_cannot_be_set_is_refused_with_the_reason(node, cli):
    for args, message in (
            (["--public", "record"], "--public: record level needs a visa"),
            (["--registered", "boolean", "--public", "count"], "public ≤ registered ≤ controlled"),
            (["--controlled", "everything"], "--controlled: expected one of boolean, count, record"),
    ):
        result = cli("node", "access", node.path, "ds", *args, ok=False)
        assert result.exit_code == 1 and message in result.output.replace("\n", " "), result.output
    result = cli("node", "access", node.path, "nope", "--public", "count", ok=False)
    assert result.exit_code == 1 and "unknown dataset 'nope'" in result.output


def test_the_store_keeps_a_ceiling_per_access_level(node):
    with node.store() as store:
        columns = [r[0] for r in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'dataset_access' "
            "ORDER BY ordinal_position").fetchall()]
    assert columns == ["dataset_id", *(f"{level}_granularity" for level in ACCESS_LEVELS), "synthetic", "updated_at"]
