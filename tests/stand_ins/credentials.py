"""Throwaway service-account JSON whose token_uri points at the Vertex emulator's /token."""

from __future__ import annotations

import json
import os
import secrets
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def service_account_info(token_uri: str, project_id: str = "emulator-project") -> dict:
    """A service-account info dict with a freshly generated 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = f"emulator@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account", "project_id": project_id, "private_key_id": secrets.token_hex(20),
        "private_key": pem, "client_email": email, "client_id": str(secrets.randbits(64)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
    }


def write_service_account(token_uri: str, project_id: str = "emulator-project", directory: str | None = None) -> str:
    """Write the SA JSON (mode 0600) and return its path."""
    fd, path = tempfile.mkstemp(prefix="emulator-sa-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as fh:
        json.dump(service_account_info(token_uri, project_id), fh, indent=2)
    return path
