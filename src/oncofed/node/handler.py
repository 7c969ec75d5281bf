"""Every request a node receives, whichever transport brought it, goes through here:

    open the hub's envelope → check the researcher's token itself → the allow-list →
    select the cohort → differencing guard → node step → guard → audit → sealed answer

The node never takes the hub's word for who is asking: the token inside the envelope is
verified against the hub's public key from the node's own configuration. Nothing leaves
except through ``privacy.guard``, and every request, released or refused, is audited.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb

from oncofed.analysis import cohort as cohorts
from oncofed.analysis import registry
from oncofed.analysis.base import AnalysisError, GuardRefusal
from oncofed.auth import envelope, tokens
from oncofed.auth.visas import Grant
from oncofed.errors import OncofedError
from oncofed.node import audit
from oncofed.node import beacon
from oncofed.node import catalogue
from oncofed.node.home import NodeHome
from oncofed.node.permits import Permits
from oncofed.node.ratelimit import Buckets, RateLimited
from oncofed.privacy import differencing, guard
from oncofed.privacy.policy import GuardPolicy
from oncofed.store.store import Store

log = logging.getLogger(__name__)

ANSWERED_MAX = 100_000
CALLER_MAX = 200  # characters of an anonymous caller's name the hub may pass
AUDIT_LAST, AUDIT_MAX = 100, 1000  # audit entries a steward's request gets by default, at most


class Refused(Exception):
    """A request the node will not answer; the reason goes back to the researcher."""


@dataclass
class Node:
    """A serving node: its home, one store connection, and what it remembers between requests."""

    home: NodeHome
    con: duckdb.DuckDBPyConnection
    permits: Permits
    buckets: Buckets
    versions: dict[str, str]  # dataset → content hash; the node holds the store, so only ``store`` changes it
    replay: envelope.ReplayCache = field(default_factory=envelope.ReplayCache)
    # (requester, cohort fingerprint, variables used) answered and remembered since the node
    # started: asking again about the same individuals (every round of a Cox fit) differs by none
    answered: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, home: NodeHome) -> Node:
        if home.config.hub is None:
            raise OncofedError(f"node {home.id} trusts no hub yet: run `oncofed node trust-hub` first")
        store = home.store()
        registry.all()  # load the analyses (and scipy) now, not in the first researcher's request
        return cls(home, store.con, Permits(home.id, home.config.hub.id, home.config.visas),
                   Buckets(home.config.rate), _current(store))

    def close(self) -> None:
        self.con.close()

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        """The store between two requests, for an ingest through the serving node
        (``node.admin``). The versions are read again after, so that no request sees new
        records under an old version's name."""
        with self.lock:
            store = Store(self.con, self.home.store_path)
            try:
                yield store
            finally:
                self.versions = _current(store)

    def handle(self, sealed: dict) -> dict:
        """The sealed answer to a sealed request; EnvelopeError if the request is not the
        trusted hub's (the caller decides how to say no)."""
        hub = self.home.config.hub
        body = envelope.open_(sealed, self.home.id, _only(hub.id, hub.public_key), self.replay)
        with self.lock:
            answer = self._answer(body)
            if body.get("kind") == "analysis":  # every way through it ends in a committed append
                seq, hash_ = audit.appended(self.con)
                answer["audit"] = {"seq": seq, "hash": hash_}
        # bound to the request's nonce, so no relay can pass it off as another request's answer
        return envelope.seal(answer, self.home.id, hub.id, self.home.private_key, reply_to=sealed["nonce"])

    def _answer(self, body: dict) -> dict:
        kind = body.get("kind")
        if kind == "ping":
            return {"status": "ok", "node": self.home.id, "datasets": self._versions(None)}
        if kind == "catalogue":  # public metadata, like ping: no token, nothing to audit
            return catalogue.answer(self.home, self.con, body) | {"datasets": self._versions(None)}
        if kind == "beacon":  # at the researcher's level, public without a token (node.beacon audits it)
            requester, refusal, status, grants = None, None, 401, {}
            try:
                token = body.get("token")
                requester = None if token is None else self._requester(token)
                self.buckets.take(requester or _anonymous(self.home.config.hub.id, body.get("caller")))
                if isinstance(body.get("revocations"), str):
                    self.permits.offer(body["revocations"])
                grants = self.grants(requester, body.get("passport"))
            except (Refused, tokens.TokenError, RateLimited) as e:
                requester, refusal, status = None, str(e), 429 if isinstance(e, RateLimited) else 401
            return beacon.over_envelope(self.con, self.home, body.get("beacon"), requester, refusal, grants, status)
        if kind == "audit":
            return self._audit(body)
        if kind != "analysis":
            return {"status": "error", "reason": f"unknown request kind {kind!r}"}
        entry = {"requester": None, "kind": f"{body.get('analysis')}@{body.get('version')}",
                 "request_digest": audit.digest({k: v for k, v in body.items() if k != "token"}), "datasets": {}}
        try:
            requester = self._requester(body.get("token"))
            entry["requester"] = requester
            self.buckets.take(requester)
            answer = self._analysis(body, requester, entry)
        except (Refused, GuardRefusal, AnalysisError, tokens.TokenError, RateLimited) as e:
            reason = str(e)
            audit.append(self.con, {**entry, "outcome": "refused", "reason": reason})
            return {"status": "refused", "reason": reason}
        except Exception:
            log.exception("request failed")
            audit.append(self.con, {**entry, "outcome": "error", "reason": "internal error"})
            return {"status": "error", "reason": "the node failed to run this request (see its log)"}
        return answer

    def grants(self, requester: str | None, passport: object) -> dict[str, Grant]:
        """The datasets the researcher's Passport opens at record level (see ``node.permits``);
        a Passport without a verified researcher, or not a valid one, is refused."""
        if passport is None:
            return {}
        if requester is None or not isinstance(passport, str):
            raise Refused("a Passport is accepted only as a JWT with a researcher token")
        return self.permits.grants(passport, requester.split(":", 1)[1], self.versions)

    def _requester(self, token: object) -> str:
        if not isinstance(token, str):
            raise Refused("the request carries no researcher token")
        hub = self.home.config.hub
        claims = tokens.verify(token, [hub.public_key], issuer=hub.id)
        return f"{hub.id}:{claims.subject}"

    def _analysis(self, body: dict, requester: str, entry: dict) -> dict:
        name = str(body.get("analysis"))
        allowed = self.home.config.analyses
        if allowed is not None and name not in allowed:
            raise Refused(f"analysis {name!r} is not on this node's allow-list")
        analysis = registry.get(name, body.get("version"))
        params = analysis.validate(body.get("params") or {})
        cohort = cohorts.parse_cohort(body.get("cohort"))
        if cohort.datasets is not None and not set(self.versions) & set(cohort.datasets):
            raise Refused("this node holds none of the requested datasets")
        policy = self.home.config.guard
        data = cohorts.select(self.con, self.home.id, cohort, policy, self.versions)
        entry["datasets"] = self._versions(cohort.datasets)
        used = analysis.uses(params)
        seen = (requester, data.fingerprint, tuple(used))
        fresh = policy.differencing and seen not in self.answered
        sets = _covered(self.con, requester, data, used, policy) if fresh else []
        partial = guard.apply(analysis.node_step(data, params, body.get("state") or {}), policy)
        released = {**entry, "outcome": "released", "released": audit.summary(partial)}
        if not sets:  # one statement, its own transaction
            audit.append(self.con, released)
        else:  # the sets are remembered with the entry that released them, or none is
            self.con.execute("BEGIN")
            try:
                for members in sets:
                    differencing.remember(self.con, requester, members)
                audit.append(self.con, released)
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            if len(self.answered) >= ANSWERED_MAX:  # forgetting only costs a repeated check
                self.answered.clear()
            self.answered.add(seen)
        return {"status": "ok", "partial": partial.to_json(), "datasets": entry["datasets"],
                "min_nodes": policy.min_nodes, "min_cell": policy.min_cell}

    def _audit(self, body: dict) -> dict:
        """The newest entries of this node's audit log, for a steward of this node. The role is
        the hub's word, signed inside its envelope (``handle`` has checked it is this node's
        hub); the researcher's token is checked here, as for any request. Reading is audited."""
        entry = {"requester": None, "kind": "audit", "datasets": {},
                 "request_digest": audit.digest({k: v for k, v in body.items() if k != "token"})}
        last = body.get("last", AUDIT_LAST)
        try:
            requester = entry["requester"] = self._requester(body.get("token"))
            self.buckets.take(requester)
            roles = body.get("roles")
            if not isinstance(roles, list) or {"role": "steward", "scope": self.home.id} not in roles:
                raise Refused(f"only a steward of node {self.home.id!r} may read its audit log")
            if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= AUDIT_MAX:
                raise Refused(f"last: expected a whole number from 1 to {AUDIT_MAX}")
        except (Refused, tokens.TokenError, RateLimited) as e:
            audit.append(self.con, {**entry, "outcome": "refused", "reason": str(e)})
            return {"status": "refused", "reason": str(e)}
        shown = audit.entries(self.con, last=last)
        audit.append(self.con, {**entry, "outcome": "released", "released": {"entries": len(shown)}})
        return {"status": "ok", "node": self.home.id, "entries": [e.to_json() for e in shown]}

    def _versions(self, datasets: list[str] | None) -> dict[str, str]:
        return {d: h for d, h in self.versions.items() if datasets is None or d in datasets}


def _covered(con: duckdb.DuckDBPyConnection, requester: str, data: cohorts.Selection, used: list[str],
             policy: GuardPolicy) -> list[differencing.Cohort]:
    """The sets of individuals an answer covers, each passed by the differencing guard: the
    cohort, and the complete cases of the variables the analysis uses where those leave some
    of the cohort out. A few left out would be singled out by comparing the answer with one
    about the whole cohort (a count of it), so they must be none or at least ``min_cell``."""
    cohort = differencing.check(con, requester, data.ids, policy)
    if not used:
        return [cohort]
    analysed = differencing.Cohort.of(data.complete(used))
    if len(analysed) == len(cohort):
        return [cohort]
    if len(cohort) - len(analysed) < policy.min_cell:
        raise GuardRefusal(f"fewer than {policy.min_cell} of this cohort's individuals lack a value for a variable "
                           "the analysis uses, so an answer without them could single them out (differencing guard)")
    return [cohort, differencing.check(con, requester, analysed, policy)]


def _anonymous(hub: str, caller: object) -> str:
    """An anonymous caller's rate-limit bucket: the hub's word for who it is (its address, in
    the hub's signed envelope), or one bucket for every anonymous caller of that hub."""
    if isinstance(caller, str) and 0 < len(caller) <= CALLER_MAX:
        return f"anonymous via {hub}: {caller}"
    return f"anonymous via {hub}"


def _current(store: Store) -> dict[str, str]:
    return {d.id: d.content_hash for d in store.datasets() if d.content_hash}


def _only(hub_id: str, public_key: str):
    def key_of(sender: str) -> str:
        if sender != hub_id:
            raise envelope.UnknownSender(f"requests are accepted from hub {hub_id!r} only, not {sender!r}")
        return public_key
    return key_of

