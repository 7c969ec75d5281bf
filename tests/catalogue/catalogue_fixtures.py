"""Shared by the catalogue tests (not a conftest.py: test modules elsewhere import the root
conftest by that name): the demo nodes, described, and the DCAT-AP 3 SHACL shapes."""

from __future__ import annotations

from pathlib import Path

import pyshacl
import pytest
import yaml
from rdflib import Graph
from rdflib.namespace import SH

from conftest import CONFORMANCE

from oncofed import demo
from oncofed.auth import keys
from oncofed.catalogue import description
from oncofed.node.home import HubTrust, NodeHome

HERE = Path(__file__).parent
GBSG2_META = HERE / "data" / "gbsg2.yaml"
DEMO_META = HERE / "data" / "demo-descriptions.yaml"  # every other demo dataset's
DCAT_AP = CONFORMANCE / "dcat-ap" / "3.0.1"
# Per the README beside the shapes: validating is shapes.ttl + range.ttl (classic design) or
# dcat-ap-SHACL.ttl + ranges.ttl (one constraint per shape); the code-list checks (mdr) work
# because the catalogue states the scheme of every EU concept it uses.
SHAPE_SETS = {
    "classic": ("html/shacl/shapes.ttl", "html/shacl/range.ttl"),
    "one constraint per shape": ("shacl/dcat-ap-SHACL.ttl", "shacl/ranges.ttl"),
    "controlled vocabularies": ("html/shacl/mdr-vocabularies.shape.ttl",),
}
_shapes: dict[str, Graph] = {}
_built: list[NodeHome] = []


def shapes(name: str) -> Graph:
    if name not in _shapes:
        g = Graph()
        for f in SHAPE_SETS[name]:
            g.parse(DCAT_AP / f)
        # 3.0.1's ranges.ttl lists property shapes that no file defines (an upstream slip),
        # which pySHACL refuses to run with; they constrain nothing, so they are dropped.
        for s, o in list(g.subject_objects(SH.property)):
            if (o, None, None) not in g:
                g.remove((s, SH.property, o))
        _shapes[name] = g
    return _shapes[name]


def violations(data: Graph) -> dict[str, str]:
    """Shape set → the validation report, for each set the graph violates (warnings pass)."""
    found = {}
    for name in SHAPE_SETS:
        conforms, _, text = pyshacl.validate(data, shacl_graph=shapes(name), do_owl_imports=False,
                                             allow_warnings=True)
        if not conforms:
            found[name] = text
    return found


def trusting(home: NodeHome) -> NodeHome:
    """The node, trusting some hub (a serving node needs one)."""
    hub = HubTrust(id="test-hub", public_key=keys.public_b64(keys.generate()))
    return home.save(home.config.model_copy(update={"hub": hub}))


def descriptions() -> dict[str, description.DatasetDescription]:
    """node/dataset → its steward's description, for every demo dataset."""
    found = {"demo-de/gbsg2": description.read(GBSG2_META, description.DatasetDescription)}
    for key, given in yaml.safe_load(DEMO_META.read_text()).items():
        found[key] = description.DatasetDescription.model_validate(given)
    return found


@pytest.fixture(scope="session")
def demo_nodes(tmp_path_factory) -> dict[str, NodeHome]:
    """The three demo nodes (data/demo.yaml), every dataset fully described; built once."""
    if not _built:
        described = descriptions()
        for home in demo.build(tmp_path_factory.mktemp("catalogue") / "demo"):
            with home.store() as store:
                held = {f"{home.id}/{d.id}" for d in store.datasets()}
                assert held <= set(described), f"demo datasets without a description: {held - set(described)}"
                for key in held:
                    description.save(store.con, key.split("/")[1], described[key])
            _built.append(trusting(home))
    return {h.id: h for h in _built}
