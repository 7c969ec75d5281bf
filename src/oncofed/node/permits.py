"""Which of this node's datasets a researcher may see at record level: decided by the node
itself from the GA4GH Passport the researcher presents, never on the hub's word.

The node believes the visa issuers its operator configured (``node.yaml`` ``visas``: the JSON
``oncofed hub visa-trust`` prints) and nobody else. An issuer that publishes revocations is
believed only while the node holds a current signed list from it: the node fetches the list
from the issuer's URL (an outbound request, so a relay node behind a firewall can too) and
keeps it until shortly before it expires; a newer list that comes with a request (the hub
sends its newest with every Passport) replaces it at once. Without a current list that
issuer's permits open nothing (fail closed), so a revoked permit stops working with the next
request through the hub, and at the latest when the list it was missing from expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from oncofed import web
from oncofed.auth import visas
from oncofed.auth.visas import Grant, Identity, RevocationList, TrustConfig

log = logging.getLogger(__name__)

REFRESH_BEFORE_S = 30.0  # fetch a new list this long before the held one expires
RETRY_AFTER_S = 5.0  # after a failed fetch, ask again no sooner than this


def _fetch(url: str) -> str:
    with web.client(timeout=5.0) as client:  # verifies against ONCOFED_CA_BUNDLE's private CA too
        response = client.get(url)
    response.raise_for_status()
    return response.json()["revocations"]


class Permits:
    def __init__(self, node_id: str, hub_id: str, trust: TrustConfig | None,
                 fetch: Callable[[str], str] = _fetch):
        self.node_id, self.hub_id, self.trust, self.fetch = node_id, hub_id, trust, fetch
        self._lists: dict[str, RevocationList] = {}
        self._tried: dict[str, float] = {}
        self._lock = threading.Lock()

    def grants(self, passport: str | None, subject: str, datasets: Iterable[str],
               now: float | None = None) -> dict[str, Grant]:
        """dataset id → the grant that opens it, for the hub's researcher ``subject``; empty
        without a Passport. VisaError when the Passport itself is not valid (a forged or
        expired one is refused, not ignored), or when this node trusts no visa issuer."""
        if passport is None:
            return {}
        if self.trust is None:
            raise visas.VisaError("this node trusts no visa issuer: its operator has not run "
                                  "`oncofed node trust-visas`, so it releases no record-level data")
        now = time.time() if now is None else now
        decision = visas.controlled_datasets(passport, self.trust, now=now, revocations=self._current(now),
                                             holder=Identity(self.hub_id, subject))
        hub_url = self.trust.canonical(Identity(self.hub_id, "")).issuer
        return {d: decision.grants[value] for d in datasets
                if (value := visas.dataset_value(hub_url, self.node_id, d)) in decision.grants}

    def offer(self, token: str, now: float | None = None) -> None:
        """A signed revocation list that came with a request (the hub sends its newest one):
        kept when it is valid, trusted and newer than the one held; ignored otherwise."""
        if self.trust is None:
            return
        try:
            found = visas.verify_revocations(token, self.trust, time.time() if now is None else now)
        except visas.VisaError as e:
            log.warning("a revocation list that came with a request was not used: %s", e)
            return
        with self._lock:
            held = self._lists.get(found.issuer)
            if held is None or held.issued_at <= found.issued_at:
                self._lists[found.issuer] = found

    def _current(self, now: float) -> list[RevocationList]:
        with self._lock:
            for issuer in self.trust.issuers:
                url = issuer.revocations_url
                held = self._lists.get(issuer.issuer)
                fresh = held is not None and held.expires_at - REFRESH_BEFORE_S > now
                if url is None or fresh or now - self._tried.get(issuer.issuer, -RETRY_AFTER_S) < RETRY_AFTER_S:
                    continue
                self._tried[issuer.issuer] = now
                try:
                    self._lists[issuer.issuer] = visas.verify_revocations(self.fetch(url), self.trust, now)
                except Exception as e:  # unreachable, malformed, badly signed: the held list (if any) stays
                    log.warning("could not renew the revocation list of %s from %s: %s", issuer.issuer, url, e)
            return list(self._lists.values())
