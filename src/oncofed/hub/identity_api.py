"""The hub's identity over HTTP: its public keys and OpenID Provider metadata (public), and
who the caller is (their roles).

    GET /.well-known/jwks.json               the hub's keys: Ed25519 (researcher tokens), ES256 (visas)
    GET /.well-known/openid-configuration    where the keys, Passports, revocations and trust config are
    GET /api/me                              the caller and their roles
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from oncofed.auth import oidc
from oncofed.hub import identity
from oncofed.hub.identity import Caller
from oncofed.web import errors


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """The authenticated caller: a hub token or a configured external issuer's token (else 401)."""
    return identity.of(request.app).authenticate(authorization)


Who = Annotated[Caller, Depends(caller)]


class Jwks(BaseModel):
    keys: list[dict[str, str]] = Field(description="public JWKs (RFC 7517): OKP Ed25519, EC P-256 ES256")


class OpenIdConfiguration(BaseModel):
    """OpenID Provider metadata, with the GA4GH Passport and oncofed endpoints (``oidc.discovery``)."""

    issuer: str
    jwks_uri: str
    scopes_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    claims_supported: list[str]
    ga4gh_passport_endpoint: str
    oncofed_revocations_endpoint: str
    oncofed_visa_trust_endpoint: str


class Role(BaseModel):
    role: str = Field(description="researcher, admin, steward or dac")
    scope: str = Field(description="what it is over: '' (the hub), NODE (steward) or NODE/DATASET (dac)")


class Me(BaseModel):
    user: str
    name: str
    roles: list[Role]
    signed_in_with: str = Field(description="'hub', or the external OIDC issuer of the caller's token")


def router() -> APIRouter:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service = getattr(app.state, "identity", None)
        if service is not None:
            service.close()

    api = APIRouter(lifespan=lifespan, tags=["identity"])

    @api.get("/.well-known/jwks.json", response_model=Jwks)
    def jwks(request: Request) -> dict:
        return identity.of(request.app).public_jwks()

    @api.get("/.well-known/openid-configuration", response_model=OpenIdConfiguration, responses=errors(404))
    def openid_configuration(request: Request) -> dict:
        ident = identity.of(request.app)
        try:
            url = ident.url
        except identity.IdentityError as e:
            raise HTTPException(404, str(e)) from None
        return oidc.discovery(url, passport_endpoint=f"{url}/api/access/passport",
                              revocations_endpoint=url + identity.REVOCATIONS_PATH,
                              trust_endpoint=f"{url}/api/access/trust")

    @api.get("/api/me", response_model=Me, responses=errors(401))
    def me(who: Who) -> dict:
        return {"user": who.user_id, "name": who.name, "roles": who.role_list(),
                "signed_in_with": who.external.issuer if who.external else "hub"}

    return api
