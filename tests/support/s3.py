"""An S3-compatible server on loopback for the media store's tests: moto's server mode
(a real HTTP server speaking the S3 API), one bucket per test."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from wagate.store.media import S3Settings

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> S3Settings:
    """A fresh bucket on the loopback S3 server, and the settings that reach it."""
    name = f"media-{secrets.token_hex(4)}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    try:
        client.create_bucket(Bucket=name)
    finally:
        client.close()  # its pooled socket would otherwise be reported in a later test
    return S3Settings(
        bucket=name,
        endpoint=s3_endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )


def s3_overrides(bucket: S3Settings) -> dict[str, object]:
    """Settings for a wagate server that keeps its media in ``bucket``."""
    return {
        "media_store": "s3",
        "s3_bucket": bucket.bucket,
        "s3_endpoint": bucket.endpoint,
        "s3_access_key_id": bucket.access_key_id,
        "s3_secret_access_key": bucket.secret_access_key,
    }
