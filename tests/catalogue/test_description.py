"""`oncofed node describe`: what a steward types is checked at the door; bad input changes nothing."""

import json

import pytest

from catalogue_fixtures import GBSG2_META
from conftest import DATA, sha256


@pytest.fixture
def lung(node, cli):
    cli("node", "ingest", node.path, DATA / "ncctg-lung/lung.csv", "--dataset", "ds", "--format", "csv",
        "--mapping", DATA / "ncctg-lung/mapping.yaml")
    return node


def test_a_description_is_stored_and_the_data_fills_in_the_rest(lung, cli, tmp_path):
    result = cli("node", "describe", lung.path, "ds", "--file", GBSG2_META, "--json")
    shown = json.loads(result.stdout)
    assert shown["description"]["title"].startswith("German Breast Cancer")
    assert shown["from_the_data"]["individuals"] == 228
    assert shown["from_the_data"]["cancer_types"] == ["NCIT:C4878"]
    turtle = cli("node", "catalogue", lung.path, "--base-url", "https://n.example.org").stdout
    assert "German Breast Cancer Study Group 2 (GBSG-2) trial" in turtle
    assert "<https://n.example.org/dataset/ds>" in turtle


@pytest.mark.parametrize("text, field, expected", [
    ("themes: [HEALTH]", "themes", "EU data themes"),
    ("contact_point: {name: Someone}", "contact_point", "email and/or url"),
    ("contact_point: {name: Someone, email: not-an-address}", "contact_point.email", "an e-mail address"),
    ("duo: [DUO:0000999]", "duo", "DUO data-use codes"),
    ("duo_diseases: [breast cancer]", "duo_diseases", "CURIE"),
    ("spatial: [XX]", "spatial", "ISO 3166-1 alpha-2"),
    ("language: [english]", "language", "ISO 639-1"),
    ("temporal: {start: 2001-01-01, end: 2000-01-01}", "temporal", "{start, end} dates"),
    ("access_rights: open", "access_rights", "public, restricted, non-public"),
    ("licence: 'some licence'", "licence", "SPDX"),
    ("hdab: {url: 'https://x.example.org'}", "hdab.name", "the organisation's name"),
    ("health_theme: [cancer]", "health_theme", "http(s) IRIs"),
    ("titel: A typo", "titel", "one of the fields title, description"),
])
def test_bad_input_names_file_field_and_expectation_and_changes_nothing(lung, cli, tmp_path, text, field, expected):
    meta = tmp_path / "meta.yaml"
    meta.write_text(text + "\n")
    cli("node", "describe", lung.path, "ds", "--file", GBSG2_META)
    before = sha256(lung.store_path)
    result = cli("node", "describe", lung.path, "ds", "--file", meta, ok=False)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert str(meta) in message and f"field '{field}'" in message and expected in message, message
    assert sha256(lung.store_path) == before


@pytest.mark.parametrize("text, says", [("- a list\n", "YAML mapping"), ("title: [unclosed\n", "not valid YAML")])
def test_a_file_that_is_no_description_is_refused(lung, cli, tmp_path, text, says):
    meta = tmp_path / "meta.yaml"
    meta.write_text(text)
    result = cli("node", "describe", lung.path, "ds", "--file", meta, ok=False)
    assert result.exit_code == 1 and says in result.output


def test_an_unknown_dataset_is_refused(lung, cli):
    result = cli("node", "describe", lung.path, "nope", "--file", GBSG2_META, ok=False)
    assert result.exit_code == 1 and "unknown dataset 'nope'" in result.output


def test_the_catalogue_base_url_is_configurable_and_checked(lung, cli, tmp_path):
    settings = tmp_path / "catalogue.yaml"
    settings.write_text("base_url: ftp://somewhere\n")
    result = cli("node", "describe-catalogue", lung.path, "--file", settings, ok=False)
    assert result.exit_code == 1 and "field 'base_url'" in " ".join(result.output.split())
    settings.write_text("base_url: https://fdp.example.org/\ntitle: Example catalogue\n")
    cli("node", "describe-catalogue", lung.path, "--file", settings)
    turtle = cli("node", "catalogue", lung.path).stdout
    assert "<https://fdp.example.org/catalog/test-node>" in turtle and "Example catalogue" in turtle
