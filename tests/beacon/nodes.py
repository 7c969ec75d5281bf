"""A node loaded with real data for the Beacon's end-to-end tests (tests/node/test_beacon*.py):

- ``gbsg2``: the GBSG-2 breast cancer trial (686 women), ``lung``: the NCCTG lung trial (228),
  both from data/ with their mappings;
- ``hcc1187``: the HCC1187 tumour/normal VCF of the EGFR region (data/vcf/chr7-sub.vcf.gz with
  its sample sheet) and a clinical record for its one individual: invasive ductal carcinoma,
  as data/SOURCES.md describes the cell line, female; the age at diagnosis is a test value;
- ``synthetic``: ten made-up individuals, flagged synthetic (Beacon test mode answers from it).

The node trusts a test hub whose key signs researcher tokens and envelopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from conftest import DATA
from oncofed.auth import keys, tokens
from oncofed.ingest.pipeline import ingest
from oncofed.node import beacon, home
from oncofed.node.home import HubTrust, NodeHome

HUB = "test-hub"
EGFR_SOMATIC = "GRCh37:7:55083588:C:T"  # a somatic tumour call in the EGFR region of HCC1187
HCC1187_AGE = 41  # a test value, not a fact about the cell line's donor

CLINICAL_MAPPING = """individuals:
  id: {column: pid}
  sex: {column: sex}
diseases:
  - code: {column: code}
    age_at_diagnosis: {column: age, unit: a}
"""


@dataclass
class BeaconNode:
    home: NodeHome
    hub_key: keys.PrivateKey

    def token(self, subject: str = "alice", ttl: float = 3600) -> str:
        return tokens.issue(self.hub_key, HUB, subject, ttl)

    def requester(self, subject: str = "alice") -> str:
        return f"{HUB}:{subject}"

    def pseudonym(self, dataset: str, identifier: str) -> str:
        return self.home.pseudonyms.one(dataset, identifier)


def build(folder: Path) -> BeaconNode:
    h = home.init(folder / "node", "Beacon test node", "DE")
    hub_key = keys.generate()
    h = h.save(h.config.model_copy(update={"hub": HubTrust(id=HUB, public_key=keys.public_b64(hub_key))}))
    with h.store() as store:
        for dataset, title in (("gbsg2", "GBSG-2 breast cancer trial"), ("lung", "NCCTG advanced lung cancer"),
                               ("hcc1187", "HCC1187 tumour/normal, EGFR region"), ("synthetic", "Made-up records")):
            store.add_dataset(dataset, title)
    ingest(h, "gbsg2", "csv", [DATA / "gbsg2/gbsg2.csv"], mapping=DATA / "gbsg2/mapping.yaml")
    ingest(h, "lung", "csv", [DATA / "ncctg-lung/lung.csv"], mapping=DATA / "ncctg-lung/mapping.yaml")
    ingest(h, "hcc1187", "vcf", [DATA / "vcf/chr7-sub.vcf.gz"], samples=DATA / "vcf/hcc1187-samples.tsv")
    mapping = folder / "clinical.yaml"
    mapping.write_text(CLINICAL_MAPPING)
    (folder / "hcc1187.csv").write_text(f"pid,sex,code,age\nHCC1187,NCIT:C16576,NCIT:C4194,{HCC1187_AGE}\n")
    ingest(h, "hcc1187", "csv", [folder / "hcc1187.csv"], mapping=mapping)
    (folder / "synthetic.csv").write_text("pid,sex,code,age\n" + "".join(
        f"S{n},NCIT:C{16576 if n % 2 else 20197},NCIT:C4872,{40 + n}\n" for n in range(10)))
    ingest(h, "synthetic", "csv", [folder / "synthetic.csv"], mapping=mapping)
    with h.store() as store:
        beacon.set_access(store.con, "synthetic", synthetic=True)
    return BeaconNode(h, hub_key)


def expired_token(node: BeaconNode) -> str:
    return tokens.issue(node.hub_key, HUB, "alice", timedelta(hours=-2))
