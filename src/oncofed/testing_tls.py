"""Certificates for tests: a private CA and the server certificates it signs, made on the spot
with ``cryptography`` (ECDSA P-256: fast to make, as any TLS 1.2/1.3 client accepts).

    ca = CertificateAuthority("test CA")
    cert, key = ca.issue().write(folder, "hub")     # for 127.0.0.1 and localhost
    ca.write(folder / "ca.pem")                     # what clients trust

``issue(valid_until=…)`` in the past makes an expired certificate; a second
``CertificateAuthority`` makes certificates nobody trusts. Not for production use: keys are
written unencrypted.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class Issued:
    """A server certificate with its private key, and the certificate of the CA that signed it."""

    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.pem`` and ``name.key`` (owner-readable only) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / f"{name}.pem", folder / f"{name}.key"
        cert.write_bytes(self.cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(self.key_pem)
        return cert, key


class CertificateAuthority:
    def __init__(self, name: str = "oncofed test CA", *, days: int = 30):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem)
        return path

    def issue(self, names: tuple[str, ...] = LOCAL_NAMES, *, valid_from: dt.datetime | None = None,
              valid_until: dt.datetime | None = None) -> Issued:
        """A TLS server certificate for ``names`` (IP addresses and DNS names, as
        subjectAltNames), valid from an hour ago for 30 days unless told otherwise."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        valid_from = valid_from or now - dt.timedelta(hours=1)
        valid_until = valid_until or now + dt.timedelta(days=30)
        sans = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(valid_from).not_valid_after(valid_until)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem, self.pem)

    def issue_expired(self, names: tuple[str, ...] = LOCAL_NAMES) -> Issued:
        """A certificate that expired yesterday."""
        now = _now()
        return self.issue(names, valid_from=now - dt.timedelta(days=30), valid_until=now - dt.timedelta(days=1))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
