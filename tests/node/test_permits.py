"""A node's own decision on a Passport (``node.permits``): it believes only the issuers it
trusts, and an issuer that publishes revocations only while it holds a current list from it:
fail closed without one, fetch again after a failure (not on every request), and keep the
newest list it was offered."""

import pytest

from oncofed.auth import keys, visas
from oncofed.auth.visas import TrustConfig, TrustedIssuer, VisaError
from oncofed.node.permits import REFRESH_BEFORE_S, RETRY_AFTER_S, Permits

NOW = 1_767_225_600.0
HUB, HUB_ID, NODE = "https://hub.example.org", "hub-1", "de"
JKU = f"{HUB}/.well-known/visa-jwks.json"
KEY = keys.generate_visa_key()
LIST_URL = f"{HUB}/api/access/revocations"
TRUST = TrustConfig(issuers=[TrustedIssuer(issuer=HUB, keys=[keys.visa_jwk(KEY)], jku=[JKU], passports=True,
                                           sources=[f"{HUB}/*"], revocations_url=LIST_URL, also_known_as=[HUB_ID])])


def passport(*permits: str, subject="u1") -> str:
    carried = [visas.issue_visa(KEY, issuer=HUB, subject=subject, jku=JKU, type=visas.CONTROLLED,
                                value=visas.dataset_value(HUB, NODE, dataset), source=visas.dac_source(HUB, NODE, dataset),
                                by="dac", asserted=NOW - 60, expires_at=NOW + 86400, now=NOW - 60, jti=permit)
               for permit, dataset in (p.split("=") for p in permits)]
    return visas.issue_passport(KEY, issuer=HUB, subject=subject, jku=JKU, visas=carried, ttl_s=3600, now=NOW - 60)


def revocations(*revoked: str, at: float = NOW, ttl: float = 600) -> str:
    return visas.issue_revocations(KEY, issuer=HUB, jku=JKU, revoked=revoked, ttl_s=ttl, now=at)


class Lists:
    """The issuer's revocation endpoint as the node's fetcher sees it, counting the calls."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), 0

    def __call__(self, url: str) -> str:
        assert url == LIST_URL
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_current_list_opens_the_permitted_dataset_only():
    permits = Permits(NODE, HUB_ID, TRUST, fetch=Lists(revocations()))
    assert set(permits.grants(passport("p1=lung"), "u1", ["lung", "colon"], now=NOW)) == {"lung"}


def test_without_a_current_list_nothing_opens_and_the_fetch_is_retried_only_after_a_pause():
    lists = Lists(ConnectionError("issuer unreachable"), revocations(at=NOW + RETRY_AFTER_S))
    permits = Permits(NODE, HUB_ID, TRUST, fetch=lists)
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW) == {}  # fail closed
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 1) == {} and lists.calls == 1
    assert set(permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + RETRY_AFTER_S)) == {"lung"}
    assert lists.calls == 2


def test_a_held_list_is_renewed_shortly_before_it_expires_and_kept_if_renewal_fails():
    lists = Lists(revocations(ttl=600), ConnectionError("down"))
    permits = Permits(NODE, HUB_ID, TRUST, fetch=lists)
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW)
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 100) and lists.calls == 1
    late = NOW + 600 - REFRESH_BEFORE_S + 1
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=late) and lists.calls == 2  # old list, still valid
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 601) == {}  # expired, none newer


def test_a_revocation_offered_with_a_request_applies_at_once_and_an_older_list_is_ignored():
    permits = Permits(NODE, HUB_ID, TRUST, fetch=Lists(revocations()))
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW)
    permits.offer(revocations("p1", at=NOW + 10), now=NOW + 10)
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 10) == {}
    permits.offer(revocations(at=NOW + 5), now=NOW + 11)  # an older list that does not name p1
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 11) == {}


def test_a_list_signed_by_another_key_is_not_offered_into_use():
    permits = Permits(NODE, HUB_ID, TRUST, fetch=Lists(revocations()))
    forged = visas.issue_revocations(keys.generate_visa_key(), issuer=HUB, jku=JKU, revoked=[], ttl_s=600,
                                     now=NOW + 10)
    permits.offer(revocations("p1", at=NOW + 5), now=NOW + 5)
    permits.offer(forged, now=NOW + 10)
    assert permits.grants(passport("p1=lung"), "u1", ["lung"], now=NOW + 10) == {}


def test_a_passport_of_someone_else_opens_nothing():
    permits = Permits(NODE, HUB_ID, TRUST, fetch=Lists(revocations()))
    assert permits.grants(passport("p1=lung", subject="u2"), "u1", ["lung"], now=NOW) == {}


def test_a_node_that_trusts_no_issuer_refuses_any_passport():
    with pytest.raises(VisaError, match="trusts no visa issuer"):
        Permits(NODE, HUB_ID, None).grants(passport("p1=lung"), "u1", ["lung"], now=NOW)
    assert Permits(NODE, HUB_ID, None).grants(None, "u1", ["lung"], now=NOW) == {}
