"""Connecting to Temporal (a self-hosted server, the embedded dev server, or Temporal Cloud)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.service import TLSConfig

from lensforge.config import Settings
from lensforge.errors import ConfigurationError


def tls_config(settings: Settings) -> TLSConfig | bool:
    temporal = settings.temporal
    if not (temporal.tls or temporal.tls_cert_path or temporal.api_key):
        return False
    if bool(temporal.tls_cert_path) != bool(temporal.tls_key_path):
        raise ConfigurationError(
            "set both LENSFORGE_TEMPORAL__TLS_CERT_PATH and LENSFORGE_TEMPORAL__TLS_KEY_PATH "
            "for mTLS, or neither"
        )

    def read(path: str) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the Temporal TLS file {path}: {exc}") from exc

    return TLSConfig(
        client_cert=read(temporal.tls_cert_path),
        client_private_key=read(temporal.tls_key_path),
        server_root_ca_cert=read(temporal.tls_ca_path),
        domain=temporal.tls_server_name or None,
    )


async def connect(settings: Settings, *, identity: str | None = None) -> Client:
    temporal = settings.temporal
    return await Client.connect(
        temporal.host,
        namespace=temporal.namespace,
        api_key=temporal.api_key.get_secret_value() if temporal.api_key else None,
        tls=tls_config(settings),
        connect_timeout=timedelta(seconds=temporal.connect_timeout_seconds),
        identity=identity,
    )
