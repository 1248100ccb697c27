"""The settings choose the backend; environment variables reach every storage option."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from lensforge.config import Settings
from lensforge.errors import BadRequest
from lensforge.storage.factory import create_object_store
from lensforge.storage.local import LocalObjectStore
from lensforge.storage.s3 import S3ObjectStore


def _settings(tmp_path: Path, **storage: object) -> Settings:
    return Settings.model_validate(
        {
            "env": "test",
            "data_dir": str(tmp_path),
            "security": {"secret_key": secrets.token_urlsafe(48)},
            "server": {"public_url": "https://lensforge.example/"},
            "storage": storage,
        }
    )


def test_local_is_the_default(tmp_path: Path) -> None:
    store = create_object_store(_settings(tmp_path))
    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "objects").resolve()
    url = store.presign_get("a/b", expires_in=60)
    assert url.startswith("https://lensforge.example/api/v1/storage/objects/a/b?method=GET&")


def test_links_obey_the_configured_maximum_lifetime(tmp_path: Path) -> None:
    store = create_object_store(_settings(tmp_path, presign_max_expiry_seconds=60))
    store.presign_get("k", expires_in=60)
    with pytest.raises(BadRequest, match=r"expire within 1\.\.60 seconds"):
        store.presign_get("k", expires_in=61)


def test_s3_from_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LENSFORGE_DATA_DIR": str(tmp_path),
        "LENSFORGE_STORAGE__BACKEND": "s3",
        "LENSFORGE_STORAGE__S3__ENDPOINT_URL": "http://127.0.0.1:9",
        "LENSFORGE_STORAGE__S3__BUCKET": "datasets",
        "LENSFORGE_STORAGE__S3__REGION": "eu-west-3",
        "LENSFORGE_STORAGE__S3__ACCESS_KEY_ID": "AK",
        "LENSFORGE_STORAGE__S3__SECRET_ACCESS_KEY": "SK",
        "LENSFORGE_STORAGE__S3__ADDRESSING_STYLE": "virtual",
        "LENSFORGE_STORAGE__S3__CREATE_BUCKET": "false",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    store = create_object_store(settings)  # no network at construction: nothing to reach here
    assert isinstance(store, S3ObjectStore)
    assert store.bucket == "datasets"
    assert settings.storage.s3.create_bucket is False
    config = store._client.meta.config
    assert store._client.meta.region_name == "eu-west-3"
    assert getattr(config, "s3", None) == {"addressing_style": "virtual"}
    assert getattr(config, "signature_version", None) == "s3v4"
