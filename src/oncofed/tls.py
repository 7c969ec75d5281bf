"""Transport security: what every oncofed client trusts, what a server needs to serve HTTPS,
and certificate failures told as something a user can act on.

Clients always verify: the public roots (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` as
httpx honours them) plus, when one is configured, a private CA (``--ca FILE`` or the
``ONCOFED_CA_BUNDLE`` environment variable). The private CA is trusted *besides* the public
roots, so a hub whose nodes use a federation CA still reaches an external OIDC issuer with a
public certificate. There is no way to switch verification off.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
from pathlib import Path

from oncofed.errors import OncofedError

CA_ENV = "ONCOFED_CA_BUNDLE"
CA_HINT = f"if a private CA signed it, trust that CA's certificate: --ca FILE (CLI), ca=FILE (SDK) or {CA_ENV}=FILE"


class TLSConfigError(OncofedError):
    """A certificate, key or CA file that cannot be used as given."""


def client_context(ca: str | os.PathLike | None = None) -> ssl.SSLContext:
    """The SSL context oncofed's HTTP clients verify servers with: the public roots plus the
    private CA ``ca`` (default: ``ONCOFED_CA_BUNDLE``), a PEM file of one or more certificates."""
    import certifi

    if os.environ.get("SSL_CERT_FILE"):
        context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    elif os.environ.get("SSL_CERT_DIR"):
        context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    else:
        context = ssl.create_default_context(cafile=certifi.where())
    source = f"CA file {ca}"
    if not ca and os.environ.get(CA_ENV):
        ca = os.environ[CA_ENV]
        source = f"CA file {ca} (from {CA_ENV})"
    if ca:
        try:
            context.load_verify_locations(cafile=Path(ca))
        except (FileNotFoundError, IsADirectoryError):
            raise TLSConfigError(f"{source}: no such file") from None
        except PermissionError:
            raise TLSConfigError(f"{source}: not readable (permission denied)") from None
        except ssl.SSLError:
            raise TLSConfigError(f"{source}: no PEM certificate in it "
                                 "(expected '-----BEGIN CERTIFICATE-----' blocks)") from None
    return context


def server_settings(cert: Path | None, key: Path | None) -> tuple[dict, list[str]]:
    """uvicorn's TLS settings for ``cert`` (PEM, the server's certificate first, then any
    intermediates) and ``key`` (an unencrypted PEM private key), checked here so that a bad
    file is one clear error rather than a traceback from the server; and notices worth
    printing (an expired or not yet valid certificate is served, but clients will refuse it).
    No certificate and no key: ``({}, [])``, plain HTTP."""
    if cert is None and key is None:
        return {}, []
    if cert is None or key is None:
        raise TLSConfigError("give both --tls-cert and --tls-key (the certificate and its private key)")
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    cert_pem, key_pem = _read(cert, "certificate"), _read(key, "private key")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise TLSConfigError(f"certificate {cert}: not a PEM certificate "
                             "(expected a '-----BEGIN CERTIFICATE-----' block)") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TLSConfigError(f"private key {key}: encrypted; give the key unencrypted, readable by this "
                             "service only (e.g. `openssl pkey -in KEY -out KEY.plain`)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TLSConfigError(f"private key {key}: not a PEM private key "
                             "(expected a '-----BEGIN … PRIVATE KEY-----' block)") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (chain[0].public_key().public_bytes(serialization.Encoding.DER, public)
            != private.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise TLSConfigError(f"private key {key} does not belong to certificate {cert} "
                             "(the first certificate in the file must be the server's own)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as e:
        raise TLSConfigError(f"certificate {cert} with key {key}: cannot be served ({e.reason or e})") from None
    notices = []
    now = dt.datetime.now(dt.UTC)
    leaf = chain[0]
    if leaf.not_valid_after_utc < now:
        notices.append(f"certificate {cert} expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: "
                       "clients will refuse it")
    elif leaf.not_valid_before_utc > now:
        notices.append(f"certificate {cert} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: "
                       "clients will refuse it until then")
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}, notices


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise TLSConfigError(f"{what} {path}: no such file") from None
    except PermissionError:
        raise TLSConfigError(f"{what} {path}: not readable (permission denied)") from None


# OpenSSL's verification results that mean "signed by a CA you do not trust"
_UNKNOWN_ISSUER = {18, 19, 20, 21}  # self-signed leaf, self-signed in chain, no local issuer, cannot verify leaf


def failure(error: BaseException, whose: str = "the server") -> str | None:
    """What went wrong in a TLS handshake behind ``error`` (an httpx error), as a sentence with
    what to do about it; None when TLS is not the cause."""
    cause = _ssl_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        said = f"{whose}'s TLS certificate is not trusted: {cause.verify_message or cause.reason}"
        if cause.verify_code in _UNKNOWN_ISSUER:
            return f"{said}; {CA_HINT}"
        return said
    if isinstance(cause, ssl.SSLError):
        reason = cause.reason or str(cause)
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
            return f"TLS handshake with {whose} failed ({reason}): does it serve plain HTTP rather than HTTPS?"
        return f"TLS handshake with {whose} failed: {reason}"
    return None


def _ssl_cause(error: BaseException | None) -> ssl.SSLError | None:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ssl.SSLError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
