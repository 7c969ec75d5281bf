"""The Passport clearinghouse, item by item of the checklist in conformance/passports.md:
signatures and algorithms, standard JWT checks, trust, relevance, conditions, identity joining,
exact value matching, expiry (rule B), revocation, and no tokens in any reason."""

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oncofed.auth import keys, visas
from oncofed.auth.visas import Identity, TrustConfig, TrustedIssuer, VisaError

NOW = 1_767_225_600.0  # a fixed "now": every check takes its time from the caller
DAY = 86400

DAC = "https://dac.example.org"
DAC_JKU = f"{DAC}/jwks.json"
DAC_KEY = keys.generate_visa_key()
COMMITTEE = f"{DAC}/committees/oncology"
DATASET = f"{DAC}/datasets/onco-cohort-001"
OTHER_DATASET = f"{DAC}/datasets/onco-cohort-002"

IDP = "https://idp.uni.example.edu"  # a university's visa issuer, RS256, keys given out of band
IDP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
IDP_JWK = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(IDP_KEY.public_key())), "kid": "idp-1"}

BROKER = "https://broker.example.org"
BROKER_KEY = keys.generate_visa_key()

ROGUE = "https://rogue.example.net"
ROGUE_KEY = keys.generate_visa_key()

HOLDER = Identity(DAC, "researcher-42")

TRUST = TrustConfig(issuers=[
    TrustedIssuer(issuer=DAC, keys=[keys.visa_jwk(DAC_KEY)], jku=[DAC_JKU], sources=[f"{DAC}/committees/*"]),
    TrustedIssuer(issuer=IDP, keys=[IDP_JWK], sources=[IDP], grant_by=[]),
    TrustedIssuer(issuer=BROKER, keys=[keys.visa_jwk(BROKER_KEY)], passports=True, sources=[]),
])


def grant(**changes):
    """A ControlledAccessGrants visa of the DAC, signed its way, with any claim changed."""
    kw = dict(issuer=DAC, subject=HOLDER.subject, jku=DAC_JKU, type=visas.CONTROLLED, value=DATASET,
              source=COMMITTEE, by="dac", asserted=NOW - DAY, expires_at=NOW + 30 * DAY, now=NOW - DAY)
    key = changes.pop("key", DAC_KEY)
    return visas.issue_visa(key, **(kw | changes))


def idp_visa(type, value, subject="alice", by="so", exp=NOW + 30 * DAY, conditions=None, **header):
    """A visa of the university's issuer (RS256)."""
    claim = {"type": type, "asserted": int(NOW - DAY), "value": value, "source": IDP, "by": by}
    if conditions:
        claim["conditions"] = conditions
    payload = {"iss": IDP, "sub": subject, "iat": int(NOW - DAY), "exp": int(exp), "jti": f"idp-{type}-{value}",
               "ga4gh_visa_v1": claim}
    return jwt.encode(payload, IDP_KEY, algorithm="RS256",
                      headers={"typ": visas.VISA_TYP, "kid": "idp-1", "jku": f"{IDP}/jwks"} | header)


def idp_trust(**changes) -> TrustConfig:
    """TRUST with the university's jku allowed (its keys are out of band, so nothing is fetched)."""
    issuers = [t.model_copy(update={"jku": [f"{IDP}/jwks"]} | changes) if t.issuer == IDP else t
               for t in TRUST.issuers]
    return TRUST.model_copy(update={"issuers": issuers})


def as_holder(*carried):
    """The university's visas of researcher-42 there, with the link that makes them HOLDER's."""
    link = idp_visa("LinkedIdentities", visas.linked_identities([HOLDER]), subject=HOLDER.subject)
    return [*carried, link]


def passport(*carried, subject="broker-sub-9", key=BROKER_KEY, issuer=BROKER, ttl=3600, typ=visas.PASSPORT_TYP):
    payload = {"iss": issuer, "sub": subject, "iat": int(NOW - 60), "exp": int(NOW - 60 + ttl), "jti": "pp-1",
               "ga4gh_passport_v1": list(carried)}
    return jwt.encode(payload, key, algorithm="ES256", headers={"typ": typ, "kid": keys.visa_jwk(key)["kid"]})


def decide(carried, trust=TRUST, holder=HOLDER, **kw):
    return visas.controlled_datasets(list(carried), trust, now=NOW, holder=holder, **kw)


def ignored_because(decision, reason):
    assert decision.grants == {}, decision.grants
    assert [i.reason for i in decision.ignored if reason in i.reason], decision.ignored


def resign(token, payload_changes=None, header_changes=None, key=DAC_KEY, alg="ES256"):
    header = {k: v for k, v in (jwt.get_unverified_header(token) | (header_changes or {})).items()
              if v is not None and k != "alg"}
    payload = jwt.decode(token, options={"verify_signature": False}) | (payload_changes or {})
    return jwt.encode(payload, key, algorithm=alg, headers=header)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# issuing ---------------------------------------------------------------------------------------------


def test_an_issued_visa_is_a_ga4gh_visa_document_token():
    token = grant()
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "typ": "vnd.ga4gh.visa+jwt", "kid": keys.visa_jwk(DAC_KEY)["kid"],
                      "jku": DAC_JKU}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "sub", "iat", "exp", "jti", "ga4gh_visa_v1"} <= set(payload)
    assert payload["ga4gh_visa_v1"] == {"type": "ControlledAccessGrants", "asserted": int(NOW - DAY),
                                        "value": DATASET, "source": COMMITTEE, "by": "dac"}


def test_a_valid_grant_opens_its_dataset_and_no_other():
    d = decide([grant()])
    assert set(d.grants) == {DATASET}
    g = d.grants[DATASET]
    assert (g.source, g.by, g.issuer, g.subject, g.expires_at) == (COMMITTEE, "dac", DAC, "researcher-42",
                                                                   NOW + 30 * DAY)
    assert g.permit and d.ignored == ()


def test_a_passport_from_a_trusted_broker_carries_the_grants():
    d = visas.controlled_datasets(passport(grant()), TRUST, now=NOW, holder=HOLDER)
    assert set(d.grants) == {DATASET}
    # the grant lasts no longer than the passport that carried it
    assert d.grants[DATASET].expires_at == NOW - 60 + 3600


# 1. signatures and algorithms ------------------------------------------------------------------------


def test_a_forged_signature_is_ignored():
    forged = resign(grant(), key=ROGUE_KEY)  # same kid and claims, someone else's key
    ignored_because(decide([forged]), "signature is not valid")
    head, body, sig = grant().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["ga4gh_visa_v1"]["value"] = OTHER_DATASET
    tampered = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    ignored_because(decide([tampered]), "signature is not valid")


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384", "ES384", "EdDSA", "PS256"])
def test_algorithms_other_than_rs256_and_es256_are_refused(alg):
    payload = jwt.decode(grant(), options={"verify_signature": False})
    header = jwt.get_unverified_header(grant()) | {"alg": alg}
    # signed (or not) any way at all: the algorithm alone decides
    token = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(b'x' * 64)}"
    ignored_because(decide([token]), "only RS256 and ES256 are accepted")


def test_hs256_signed_with_the_public_key_is_refused():
    # the classic confusion attack: the issuer's public key used as an HMAC secret
    pem = DAC_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    header = jwt.get_unverified_header(grant()) | {"alg": "HS256"}
    payload = jwt.decode(grant(), options={"verify_signature": False})
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    ignored_because(decide([f"{signing_input}.{b64(sig)}"]), "only RS256 and ES256")


def test_an_unsigned_passport_is_refused_as_a_whole():
    payload = {"iss": BROKER, "sub": "x", "iat": int(NOW), "exp": int(NOW + 60), "ga4gh_passport_v1": [grant()]}
    unsigned = jwt.encode(payload, None, algorithm="none", headers={"typ": visas.PASSPORT_TYP})
    with pytest.raises(VisaError, match="only RS256 and ES256"):
        visas.controlled_datasets(unsigned, TRUST, now=NOW)


def test_a_key_is_used_only_with_its_own_algorithm():
    # an RS256 header naming the DAC's EC key
    token = jwt.encode(jwt.decode(grant(), options={"verify_signature": False}), IDP_KEY, algorithm="RS256",
                       headers={"typ": visas.VISA_TYP, "kid": keys.visa_jwk(DAC_KEY)["kid"], "jku": DAC_JKU})
    ignored_because(decide([token]), "cannot verify it")


def test_short_rsa_keys_are_not_trusted():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak.public_key())), "kid": "weak"}
    trust = TRUST.model_copy(update={"issuers": [TrustedIssuer(issuer=IDP, keys=[jwk], jku=["x"], sources=[IDP])]})
    payload = jwt.decode(idp_visa("AffiliationAndRole", "faculty@uni.example.edu"), options={"verify_signature": False})
    token = jwt.encode(payload, weak, algorithm="RS256", headers={"kid": "weak", "typ": visas.VISA_TYP, "jku": "x"})
    d = decide([token], trust, holder=Identity(IDP, "alice"))
    assert any("at least 2048 bits" in i.reason for i in d.ignored)


def test_a_jku_off_the_allow_list_is_refused_and_never_fetched():
    token = resign(grant(), header_changes={"jku": "https://attacker.example.com/jwks.json"})
    ignored_because(decide([token]), "is not on the allow-list")


def test_keys_behind_an_allowed_jku_count_once_loaded():
    rotated = keys.generate_visa_key()  # the DAC's new key, published only at its jku
    token = grant(key=rotated)
    ignored_because(decide([token]), f"the key set at {DAC_JKU} has not been loaded")
    loaded = TRUST.with_keys(DAC_JKU, {"keys": [keys.visa_jwk(rotated)]})
    assert set(decide([token], loaded).grants) == {DATASET}
    with pytest.raises(ValueError, match="allow-list"):
        TRUST.with_keys("https://attacker.example.com/jwks.json", {"keys": [keys.visa_jwk(rotated)]})


def test_a_visa_without_a_kid_is_ignored():
    ignored_because(decide([resign(grant(), header_changes={"kid": None})]), "names no key")


# 2. standard JWT checks -------------------------------------------------------------------------------


def test_an_expired_visa_is_ignored():
    ignored_because(decide([grant(expires_at=NOW - 1)]), "has expired")


def test_a_visa_not_yet_valid_is_ignored():
    ignored_because(decide([grant(now=NOW + 3600)]), "not valid yet")
    ignored_because(decide([resign(grant(), {"nbf": int(NOW + 3600)})]), "not valid yet")


def test_a_small_clock_difference_is_tolerated_for_iat():
    assert DATASET in decide([grant(now=NOW + 30)]).grants


def test_an_expired_or_not_yet_valid_passport_is_refused():
    with pytest.raises(VisaError, match="has expired"):
        visas.controlled_datasets(passport(grant(), ttl=30), TRUST, now=NOW)
    early = jwt.encode({"iss": BROKER, "sub": "x", "iat": int(NOW + 3600), "exp": int(NOW + 7200),
                        "ga4gh_passport_v1": []}, BROKER_KEY, algorithm="ES256",
                       headers={"typ": visas.PASSPORT_TYP, "kid": keys.visa_jwk(BROKER_KEY)["kid"]})
    with pytest.raises(VisaError, match="not valid yet"):
        visas.controlled_datasets(early, TRUST, now=NOW)


def test_a_passport_must_say_it_is_one():
    with pytest.raises(VisaError, match="type"):
        visas.controlled_datasets(passport(grant(), typ="JWT"), TRUST, now=NOW)


def test_visa_access_tokens_are_not_accepted():
    token = resign(grant(), {"scope": "openid ga4gh_passport_v1"}, {"typ": "at+jwt"})
    assert decide([token]).grants == {}
    token = resign(grant(), {"scope": "openid ga4gh_passport_v1"})
    ignored_because(decide([token]), "visa access token")


def test_a_visa_needs_a_jku_or_a_scope():
    ignored_because(decide([resign(grant(), header_changes={"jku": None})]), "neither a jku header nor a scope")


# 3. trust -----------------------------------------------------------------------------------------------


def test_visas_of_an_untrusted_issuer_are_ignored_not_the_passport():
    rogue = visas.issue_visa(ROGUE_KEY, issuer=ROGUE, subject=HOLDER.subject, jku=f"{ROGUE}/jwks", type=visas.CONTROLLED,
                             value=OTHER_DATASET, source=COMMITTEE, by="dac", asserted=NOW, expires_at=NOW + DAY, now=NOW)
    d = visas.controlled_datasets(passport(rogue, grant()), TRUST, now=NOW, holder=HOLDER)
    assert set(d.grants) == {DATASET}
    assert [(i.index, i.issuer) for i in d.ignored] == [(0, ROGUE)]
    assert "not trusted" in d.ignored[0].reason


def test_a_passport_of_an_untrusted_broker_is_refused():
    with pytest.raises(VisaError, match="not trusted"):
        visas.controlled_datasets(passport(grant(), issuer=ROGUE, key=ROGUE_KEY), TRUST, now=NOW)
    # the DAC is trusted for visas, not to sign passports
    with pytest.raises(VisaError, match="not trusted to issue passports"):
        visas.controlled_datasets(passport(grant(), issuer=DAC, key=DAC_KEY), TRUST, now=NOW)


def test_an_assertion_source_the_issuer_may_not_speak_for_is_ignored():
    ignored_because(decide([grant(source="https://other-dac.example.org")]), "is not one")


def test_a_grant_needs_the_dac_authority():
    ignored_because(decide([grant(by=None)]), "no `by`")
    ignored_because(decide([grant(by="self")]), "granted by 'self'")


# 4. relevance ----------------------------------------------------------------------------------------


def test_other_visa_types_and_unknown_claims_open_nothing_and_harm_nothing():
    role = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject)
    extra = resign(grant(), {"ga4gh_visa_v1": jwt.decode(grant(), options={"verify_signature": False})["ga4gh_visa_v1"]
                             | {"unknown_claim": 7}})
    d = decide(as_holder(role, extra), idp_trust())
    assert set(d.grants) == {DATASET} and d.ignored == ()


# 5. conditions -----------------------------------------------------------------------------------------

FACULTY = [[{"type": "AffiliationAndRole", "value": "const:faculty@uni.example.edu", "by": "const:so"}]]


def test_a_conditional_grant_holds_only_while_its_condition_is_met():
    conditional = grant(conditions=FACULTY, subject="alice")
    holder = Identity(IDP, "alice")
    # the DAC's subject space is its own; link alice@IDP and alice@DAC
    link = idp_visa("LinkedIdentities", visas.linked_identities([Identity(DAC, "alice")]))
    faculty = idp_visa("AffiliationAndRole", "faculty@uni.example.edu")
    assert DATASET in decide([conditional, link, faculty], idp_trust(), holder).grants
    d = decide([conditional, link], idp_trust(), holder)
    ignored_because(d, "conditions are not met")
    student = idp_visa("AffiliationAndRole", "student@uni.example.edu")
    ignored_because(decide([conditional, link, student], idp_trust(), holder), "conditions are not met")


def test_conditions_are_disjunctive_normal_form():
    member_or_faculty = [[{"type": "AffiliationAndRole", "value": "const:member@uni.example.edu"},
                          {"type": "ResearcherStatus", "value": "const:https://doi.org/10.1038/s41431-018-0219-y"}],
                         [{"type": "AffiliationAndRole", "value": "const:faculty@uni.example.edu"}]]
    conditional = grant(conditions=member_or_faculty)
    member = idp_visa("AffiliationAndRole", "member@uni.example.edu", subject=HOLDER.subject)
    bona_fide = idp_visa("ResearcherStatus", "https://doi.org/10.1038/s41431-018-0219-y", subject=HOLDER.subject)
    faculty = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject)
    trust = idp_trust()
    assert DATASET in decide(as_holder(conditional, member, bona_fide), trust).grants  # first alternative: both clauses
    assert DATASET not in decide(as_holder(conditional, member), trust).grants  # half of it
    assert DATASET in decide(as_holder(conditional, faculty), trust).grants  # second alternative


def test_all_claims_of_one_clause_must_match_the_same_visa():
    clause = [[{"type": "AffiliationAndRole", "value": "const:faculty@uni.example.edu", "by": "const:so"}]]
    conditional = grant(conditions=clause)
    by_so = idp_visa("AffiliationAndRole", "member@uni.example.edu", subject=HOLDER.subject, by="so")
    faculty_by_self = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject, by="self")
    ignored_because(decide(as_holder(conditional, by_so, faculty_by_self), idp_trust()), "conditions are not met")


@pytest.mark.parametrize("spec, value, met", [
    ("const:faculty@uni.example.edu", "faculty@uni.example.edu", True),
    ("const:faculty@uni.example.edu", "Faculty@uni.example.edu", False),  # case-sensitive
    ("pattern:*@uni.example.edu", "staff@uni.example.edu", True),
    ("pattern:?aculty@uni.example.edu", "faculty@uni.example.edu", True),
    ("pattern:?aculty@uni.example.edu", "ffaculty@uni.example.edu", False),
    ("pattern:faculty@*.edu", "faculty@uni.example.org", False),
    ("pattern:a.c", "abc", False),  # '.' is literal: only ? and * are wildcards
    ("split_pattern:faculty@*", "member@x.org;faculty@uni.example.edu", True),
    ("split_pattern:faculty@*", "member@x.org;student@y.org", False),
    ("regex:.*", "faculty@uni.example.edu", False),  # an unknown prefix matches nothing
    ("faculty@uni.example.edu", "faculty@uni.example.edu", False),  # no prefix at all
])
def test_condition_match_types(spec, value, met):
    conditional = grant(conditions=[[{"type": "AffiliationAndRole", "value": spec}]])
    role = idp_visa("AffiliationAndRole", value, subject=HOLDER.subject)
    assert (DATASET in decide(as_holder(conditional, role), idp_trust()).grants) is met


def test_a_condition_is_not_met_by_a_conditional_or_untrusted_visa():
    conditional = grant(conditions=FACULTY)
    faculty_if = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject,
                          conditions=[[{"type": "ResearcherStatus", "value": "pattern:*"}]])
    ignored_because(decide(as_holder(conditional, faculty_if), idp_trust()), "conditions are not met")
    untrusted = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject, jku="https://x/jwks")
    ignored_because(decide(as_holder(conditional, untrusted), idp_trust()), "conditions are not met")


def test_clauses_may_not_test_timestamps_or_nested_conditions():
    for name in ("asserted", "conditions", "exp"):
        conditional = grant(conditions=[[{"type": "AffiliationAndRole", name: "pattern:*"}]])
        role = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject)
        assert DATASET not in decide(as_holder(conditional, role), idp_trust()).grants


def test_malformed_conditions_drop_the_visa():
    token = resign(grant(), {"ga4gh_visa_v1": jwt.decode(grant(), options={"verify_signature": False})["ga4gh_visa_v1"]
                             | {"conditions": [{"type": "AffiliationAndRole"}]}})
    ignored_because(decide([token]), "conditions are not")


def test_the_grant_ends_with_the_visa_that_met_its_condition():
    conditional = grant(conditions=FACULTY)
    faculty = idp_visa("AffiliationAndRole", "faculty@uni.example.edu", subject=HOLDER.subject, exp=NOW + DAY)
    assert decide(as_holder(conditional, faculty), idp_trust()).grants[DATASET].expires_at == NOW + DAY


# 6. identity joining -----------------------------------------------------------------------------------


def test_a_visa_of_another_identity_counts_only_through_a_trusted_link():
    holder = Identity(IDP, "alice")  # signed in at the university; the DAC knows them as researcher-42
    ignored_because(decide([grant()], idp_trust(), holder), "not linked")
    link = idp_visa("LinkedIdentities", visas.linked_identities([HOLDER]), exp=NOW + 2 * DAY)
    d = decide([grant(), link], idp_trust(), holder)
    assert set(d.grants) == {DATASET}
    assert d.grants[DATASET].expires_at == NOW + 2 * DAY  # no longer than the link
    rogue_link = visas.issue_visa(ROGUE_KEY, issuer=ROGUE, subject="alice", jku=f"{ROGUE}/jwks",
                                  type=visas.LINKED, value=visas.linked_identities([HOLDER]),
                                  source=ROGUE, by="system", asserted=NOW, expires_at=NOW + DAY, now=NOW)
    ignored_because(decide([grant(), rogue_link], idp_trust(), Identity(ROGUE, "alice")), "not linked")


def test_linked_identities_values_are_url_encoded_pairs():
    odd = Identity("https://login.example.org/realms/a,b", "user;1")
    value = visas.linked_identities([odd])
    assert value == "user%3B1,https%3A%2F%2Flogin.example.org%2Frealms%2Fa%2Cb"
    token = grant(subject="user;1")
    link = idp_visa("LinkedIdentities", visas.linked_identities([Identity(DAC, "user;1")]))
    assert DATASET in decide([token, link], idp_trust(), Identity(IDP, "alice")).grants


def test_a_passport_of_someone_else_opens_nothing():
    d = visas.controlled_datasets(passport(grant()), TRUST, now=NOW, holder=Identity(DAC, "someone-else"))
    ignored_because(d, "not linked")


def test_a_token_issuer_alias_is_the_same_subject_space():
    trust = TRUST.model_copy(update={"issuers": [TRUST.issuers[0].model_copy(update={"also_known_as": ["dac-hub"]})]})
    assert DATASET in decide([grant()], trust, holder=Identity("dac-hub", "researcher-42")).grants


# 7. value matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [DATASET.upper(), DATASET + "/", DATASET[:-1], OTHER_DATASET])
def test_values_match_exactly(value):
    assert DATASET not in decide([grant(value=value)]).grants


def test_values_longer_than_255_characters_are_ignored():
    token = resign(grant(), {"ga4gh_visa_v1": jwt.decode(grant(), options={"verify_signature": False})["ga4gh_visa_v1"]
                             | {"value": DATASET + "x" * 255}})
    ignored_because(decide([token]), "longer than 255")


# 8. expiry (rule B) ----------------------------------------------------------------------------------


def test_a_grant_must_outlast_the_access_asked_for():
    token = grant(expires_at=NOW + 600)
    assert DATASET in decide([token], ttl_s=599).grants
    ignored_because(decide([token], ttl_s=600), "expires before the access would end")


# revocation ------------------------------------------------------------------------------------------

REVOKING = TrustConfig(issuers=[TRUST.issuers[0].model_copy(update={"revocations_url": f"{DAC}/revocations"})])


def revocation_list(*jtis, key=DAC_KEY, issuer=DAC, ttl=600, now=NOW - 60):
    return visas.issue_revocations(key, issuer=issuer, jku=DAC_JKU, revoked=jtis, ttl_s=ttl, now=now)


def test_a_revoked_permit_opens_nothing():
    token = grant(jti="permit-1")
    fresh = visas.verify_revocations(revocation_list("permit-0"), REVOKING, now=NOW)
    assert DATASET in decide([token], REVOKING, revocations=[fresh]).grants
    revoked = visas.verify_revocations(revocation_list("permit-0", "permit-1", now=NOW - 30), REVOKING, now=NOW)
    ignored_because(decide([token], REVOKING, revocations=[fresh, revoked]), "has been revoked")


def test_without_a_current_revocation_list_an_issuer_that_revokes_is_not_believed():
    token = grant(jti="permit-1")
    ignored_because(decide([token], REVOKING), "no current revocation list")
    stale = visas.RevocationList(DAC, NOW - 700, NOW - 100, frozenset())
    ignored_because(decide([token], REVOKING, revocations=[stale]), "no current revocation list")


def test_a_revocation_list_must_be_signed_by_its_issuer_and_current():
    with pytest.raises(VisaError, match="signature is not valid"):
        visas.verify_revocations(resign(revocation_list(), key=ROGUE_KEY), REVOKING, now=NOW)
    with pytest.raises(VisaError, match="has expired"):
        visas.verify_revocations(revocation_list(ttl=30), REVOKING, now=NOW)
    with pytest.raises(VisaError, match="not trusted to publish revocations"):
        visas.verify_revocations(revocation_list(), TRUST, now=NOW)
    with pytest.raises(VisaError, match="type"):
        visas.verify_revocations(grant(), REVOKING, now=NOW)


# 9. privacy ------------------------------------------------------------------------------------------


def test_no_reason_or_error_repeats_a_token():
    tokens_ = [resign(grant(), key=ROGUE_KEY), grant(expires_at=NOW - 1), resign(grant(), {"iss": ROGUE})]
    d = decide(tokens_)
    text = " ".join(i.reason for i in d.ignored)
    for token in tokens_:
        for part in token.split("."):
            assert part not in text
    with pytest.raises(VisaError) as e:
        visas.controlled_datasets(passport(grant(), typ="JWT"), TRUST, now=NOW)
    assert all(part not in str(e.value) for part in passport(grant(), typ="JWT").split("."))


def test_bare_visas_need_the_holder():
    with pytest.raises(ValueError, match="holder"):
        visas.controlled_datasets([grant()], TRUST, now=NOW)
