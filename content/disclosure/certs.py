"""Signing certificates for C2PA.

C2PA refuses a self-signed leaf, so `init_local_ca` makes a small local CA and
a leaf it signs (ECDSA P-256 for ES256, keyUsage digitalSignature, EKU
emailProtection) — accepted by c2pa for development and demos. Production
uses a real certificate chain and key (`VIBOT_C2PA_CERT`, `VIBOT_C2PA_KEY`).
Private keys are written readable by their owner only.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from content.errors import ConfigError

CA_CERT, CA_KEY = "vibot-local-ca.pem", "vibot-local-ca.key"
LEAF_CHAIN, LEAF_KEY = "signing-chain.pem", "signing.key"


@dataclass(frozen=True)
class SigningMaterial:
    chain_pem: bytes  # the leaf first, then its issuers
    key_pem: bytes
    ca_pem: bytes | None  # a trust anchor to validate against (the local CA), if known
    timestamp_url: str | None = None


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def init_local_ca(directory: Path, common_name: str = "vibot local signing") -> Path:
    """Create a local CA and a C2PA signing certificate in `directory` (kept if present)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if (directory / LEAF_CHAIN).exists() and (directory / LEAF_KEY).exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, text),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vibot (development)"),
            ]
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("vibot local CA"))
        .issuer_name(name("vibot local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_format = (serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (directory / CA_CERT).write_bytes(ca_cert.public_bytes(pem))
    _write_private(directory / CA_KEY, ca_key.private_bytes(pem, *key_format))
    (directory / LEAF_CHAIN).write_bytes(leaf_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(directory / LEAF_KEY, leaf_key.private_bytes(pem, *key_format))
    return directory


def load_material(
    cert: Path | None, key: Path | None, local_dir: Path, timestamp_url: str | None = None
) -> SigningMaterial:
    """The production certificate when both paths are given, else the local CA's (made if missing)."""
    if (cert is None) != (key is None):
        raise ConfigError("set both VIBOT_C2PA_CERT and VIBOT_C2PA_KEY, or neither (for a local CA)")
    if cert is not None and key is not None:
        for path in (cert, key):
            if not path.is_file():
                raise ConfigError(f"C2PA file {path} does not exist — check VIBOT_C2PA_CERT/VIBOT_C2PA_KEY")
        return SigningMaterial(cert.read_bytes(), key.read_bytes(), None, timestamp_url)
    init_local_ca(local_dir)
    return SigningMaterial(
        (local_dir / LEAF_CHAIN).read_bytes(),
        (local_dir / LEAF_KEY).read_bytes(),
        (local_dir / CA_CERT).read_bytes(),
        timestamp_url,
    )
