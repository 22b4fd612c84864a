"""`rdi api` over TLS with a given certificate, and the `processor` metric collection scraped from a real
processor metrics endpoint."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rdi.metrics import ProcessorMetrics, serve_metrics
from tests.api.api_server import USER, USER_PASSWORD, ApiServer, running_api

pytestmark = pytest.mark.redis


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "api.crt", folder / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


@pytest.fixture
def tls_api(redis_url: str, redis_client: object, tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    """`rdi api` over HTTPS with a self-signed certificate, on a flushed RDI DB."""
    cert, key = _self_signed(tmp_path)
    with running_api(redis_url, tmp_path / "api.log", tls=(cert, key)) as server:
        yield server, cert


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RDI_API_URL": url, "RDI_USER": USER, "RDI_PASSWORD": USER_PASSWORD}
    return subprocess.run([sys.executable, "-m", "rdi", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_tls_api_is_reached_with_its_ca_and_refused_without(tls_api: tuple[ApiServer, Path]) -> None:
    server, cert = tls_api
    trusted = _cli(server.url, "list", "-o", "json", "--cacert", str(cert))
    untrusted = _cli(server.url, "list")
    insecure = _cli(server.url, "list", "-o", "json", "--insecure")
    assert (server.url.startswith("https://"), trusted.returncode, trusted.stdout, untrusted.returncode,
            "pass --cacert FILE (or --insecure)" in untrusted.stderr, insecure.returncode) == (
        True, 0, "[]\n", 1, True, 0,
    )  # fmt: skip


def test_processor_collection_is_scraped_from_the_processor(redis_url: str, tmp_path: Path) -> None:
    metrics = ProcessorMetrics()
    metrics.incoming.inc(5)
    server = serve_metrics(metrics, 0, "127.0.0.1")
    port = server.port
    try:
        extra = {"RDI_PROCESSOR_METRICS_URL": f"http://127.0.0.1:{port}/metrics"}
        with running_api(redis_url, tmp_path / "api.log", extra_env=extra) as api, api.client() as http:
            collection = http.get("/api/v2/pipelines/default/metric-collections/processor").json()
            streams = http.get("/api/v2/pipelines/default/metric-collections/streams").json()
            unknown = http.get("/api/v2/pipelines/default/metric-collections/nope")
    finally:
        server.close()
    incoming = [m["value"] for m in collection["metrics"] if m["name"] == "incoming_records_total"]
    assert (collection["error"], incoming, streams["component"], unknown.status_code) == (None, [5.0], "rdi-db", 404)
