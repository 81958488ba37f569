"""Client identity (MSP id + X.509 certificate) and its ECDSA signer.

Signatures are ECDSA P-256 over SHA-256, DER-encoded, with low-S normalisation: Fabric refuses a
signature whose S is in the upper half of the curve order (malleability).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fabric_protos.msp import identities_pb2

from fabric_gateway.errors import GatewayError

# Order of the P-256 group.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

Signer = Callable[[bytes], bytes]
"""Signs a message (the signer hashes it with SHA-256); returns a DER signature."""


@dataclass(frozen=True)
class Identity:
    msp_id: str
    certificate: bytes  # PEM

    def creator(self) -> bytes:
        """The serialized identity Fabric puts in every header (msp.SerializedIdentity); made once
        per identity (every proposal, status request and seek carries it)."""
        return _serialized(self.msp_id, self.certificate)


@lru_cache(maxsize=32)
def _serialized(msp_id: str, certificate: bytes) -> bytes:
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=certificate).SerializeToString()


def low_s(der: bytes) -> bytes:
    """The same ECDSA signature with S in the lower half of the group order."""
    r, s = decode_dss_signature(der)
    if s > P256_N // 2:
        s = P256_N - s
    return encode_dss_signature(r, s)


def ecdsa_signer(key: ec.EllipticCurvePrivateKey) -> Signer:
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"Fabric identities here use P-256, got {key.curve.name}")

    def sign(message: bytes) -> bytes:
        return low_s(key.sign(message, ec.ECDSA(hashes.SHA256())))

    return sign


class KeyFileError(GatewayError, ValueError):
    """A private key file that others could read (or that cannot be read). ``path`` names it.
    Also a ValueError, as a key that is not P-256 is."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


def key_mode_problem(mode: int) -> str | None:
    """Why a key file with this ``st_mode`` is not private (group or others may use it), or None."""
    if mode & 0o077:
        return f"mode {mode & 0o777:04o} lets group or others read it; make it private: chmod 600"
    return None


def read_private_key(path: Path) -> bytes:
    """The bytes of a private key file only its owner can read (like ssh, refuse a shared one).
    Raises KeyFileError."""
    try:
        problem = key_mode_problem(path.stat().st_mode)
        if problem:
            raise KeyFileError(path, problem)
        return path.read_bytes()
    except OSError as e:
        raise KeyFileError(path, e.strerror or str(e)) from None


def load_signer(path: Path) -> Signer:
    """A signer from a PEM private key file (PKCS#8, as cryptogen writes) readable by its owner
    only. KeyFileError for a shared or unreadable file, ValueError if the key is not P-256."""
    key = serialization.load_pem_private_key(read_private_key(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return ecdsa_signer(key)


def tls_cert_hash(cert_pem: bytes) -> bytes:
    """SHA-256 of a client TLS certificate's DER: what a peer requiring mutual TLS expects in the
    channel header of a Deliver request (and the Go client sets in every header), binding the
    signed message to the TLS session that carries it."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(cert.public_bytes(serialization.Encoding.DER))
    return digest.finalize()


def load_identity(msp_id: str, cert_path: Path) -> Identity:
    return Identity(msp_id, cert_path.read_bytes())
