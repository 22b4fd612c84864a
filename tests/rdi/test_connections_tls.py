"""`rdi.connections` against real TLS Redis servers: server TLS, mutual TLS, an encrypted client key, ACL users.

The module starts its own `redis-server` processes (Debian's, built with TLS) on ports 28001–28003 with a
throwaway CA made by `openssl`, and stops them by PID at the end. Connections are built by the real config
loader, with `${NAME}` references for the secrets, so the `SecretStr` path is the one a pipeline takes.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from rdi.config import load_config_text
from rdi.config.targets import RedisConnection, Target
from rdi.connections import RedisClient, TargetConnections, redis_client
from rdi.errors import FatalError

pytestmark = pytest.mark.redis

TLS_PORT = 28001  # server TLS only: `--tls-auth-clients no`
MTLS_PORT = 28002  # mutual TLS: `--tls-auth-clients yes`
OTHER_HOST_PORT = 28003  # a certificate for `other.example`, not for 127.0.0.1
KEY_PASSPHRASE = "k3y-Phrase"
ACL_USER = "app"
ACL_PASSWORD = "s3cret"
WRONG_PASSWORD = "wr0ng-Guess"
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Pki:
    """Files of a throwaway CA, the servers' and a client's certificates (PEM)."""

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    other_host_cert: Path
    other_host_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    ext = directory / f"{name}.ext"
    ext.write_text(
        "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n[dn]\nCN = rdi test " + name + "\n"
        "[ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    _openssl(
        "req", "-x509", "-config", str(ext), "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
    )  # fmt: skip
    return cert, key


def _make_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n" + extensions + "\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", str(cert), "-days", "1", "-extfile", str(ext),
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _make_ca(directory, "ca")
    other_ca = _make_ca(directory, "other-ca")
    server = _make_leaf(directory, "server", ca, "extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1")
    other_host = _make_leaf(
        directory, "other-host", ca, "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:other.example"
    )
    client = _make_leaf(directory, "client", ca, "extendedKeyUsage = clientAuth")
    encrypted = directory / "client-encrypted.key"
    _openssl("pkey", "-in", str(client[1]), "-out", str(encrypted), "-aes256", "-passout", f"pass:{KEY_PASSPHRASE}")
    return Pki(
        ca=ca[0],
        other_ca=other_ca[0],
        server_cert=server[0],
        server_key=server[1],
        other_host_cert=other_host[0],
        other_host_key=other_host[1],
        client_cert=client[0],
        client_key=client[1],
        client_key_encrypted=encrypted,
    )


def _admin(port: int, pki: Pki) -> redis.Redis:
    # The test's own client: the CA and the client certificate, whatever the server asks for, and no
    # host name check (the `other.example` server is not 127.0.0.1).
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(pki.ca),
        ssl_certfile=str(pki.client_cert),
        ssl_keyfile=str(pki.client_key),
        ssl_check_hostname=False,
        socket_connect_timeout=1,
        socket_timeout=5,
        decode_responses=True,
    )


@contextmanager
def _tls_redis(directory: Path, port: int, pki: Pki, cert: Path, key: Path, auth_clients: str) -> Iterator[None]:
    process = subprocess.Popen(
        [
            "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(pki.ca),
            "--tls-auth-clients", auth_clients, "--save", "", "--appendonly", "no", "--dir", str(directory),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    admin = _admin(port, pki)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"redis-server with TLS on port {port} exited: {output}")
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server with TLS on port {port} did not answer in {_START_TIMEOUT_S} s")
                time.sleep(0.02)
        yield
    finally:
        admin.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("tls-redis")
    with _tls_redis(directory, TLS_PORT, pki, pki.server_cert, pki.server_key, "no"):
        yield TLS_PORT


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("mtls-redis")
    with _tls_redis(directory, MTLS_PORT, pki, pki.server_cert, pki.server_key, "yes"):
        yield MTLS_PORT


@pytest.fixture(scope="module")
def other_host_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("other-host-redis")
    with _tls_redis(directory, OTHER_HOST_PORT, pki, pki.other_host_cert, pki.other_host_key, "no"):
        yield OTHER_HOST_PORT


@pytest.fixture
def acl_user(tls_server: int, pki: Pki) -> Iterator[str]:
    admin = _admin(tls_server, pki)
    admin.execute_command("ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "+@all")  # type: ignore[no-untyped-call]
    try:
        yield ACL_USER
    finally:
        admin.acl_deluser(ACL_USER)
        admin.close()


def targets(connection: str, env: dict[str, str] | None = None) -> dict[str, Target]:
    """`targets.target` of a `config.yaml` whose connection is the flow mapping ``connection``."""
    return load_config_text(f"targets:\n  target:\n    connection: {{{connection}}}\n", env=env or {}).targets


def connection(text: str, env: dict[str, str] | None = None) -> RedisConnection:
    conn = targets(text, env)["target"].connection
    assert isinstance(conn, RedisConnection)
    return conn


def without_ssl_line(message: str) -> str:
    """``message`` with the `_ssl.c` line numbers (which change with the Python build) replaced by ``N``."""
    return re.sub(r"_ssl\.c:\d+", "_ssl.c:N", message)


TLS_FIX = "check `cacert`, `cert`, `key` and `key_password` of `targets.target.connection`"


def set_and_get(client: RedisClient) -> object:
    try:
        client.set("tls:probe", "ok")
        return client.get("tls:probe")
    finally:
        client.close()


def test_tls_with_only_the_ca_certificate_sets_and_gets(tls_server: int, pki: Pki) -> None:
    conn = connection(f"type: redis, host: 127.0.0.1, port: {tls_server}, cacert: '{pki.ca}'")
    assert set_and_get(redis_client(conn)) == b"ok"


def test_mutual_tls_with_client_certificate_and_key_sets_and_gets(mtls_server: int, pki: Pki) -> None:
    conn = connection(
        f"type: redis, host: 127.0.0.1, port: {mtls_server}, cacert: '{pki.ca}', "
        f"cert: '{pki.client_cert}', key: '{pki.client_key}'"
    )
    assert set_and_get(redis_client(conn)) == b"ok"


def test_mutual_tls_without_client_certificate_is_one_fatal_line(mtls_server: int, pki: Pki) -> None:
    conn = connection(f"type: redis, host: 127.0.0.1, port: {mtls_server}, cacert: '{pki.ca}'")
    with pytest.raises(FatalError) as raised:
        redis_client(conn)
    # TLS 1.3: the server refuses the missing certificate after the client's side of the handshake, so the
    # client meets the refusal either on its first write or on its first read (both seen, about half each).
    where = f"target `target` (127.0.0.1:{mtls_server}): TLS failed"
    assert without_ssl_line(str(raised.value)) in {
        f"{where} (Error 8 while writing to socket. EOF occurred in violation of protocol (_ssl.c:N).); {TLS_FIX}",
        f"{where} (Error while reading from 127.0.0.1:{mtls_server} : (1, '[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] "
        f"tlsv13 alert certificate required (_ssl.c:N)')); {TLS_FIX}",
    }


def test_encrypted_client_key_opens_with_key_password(mtls_server: int, pki: Pki) -> None:
    conn = connection(
        f"type: redis, host: 127.0.0.1, port: {mtls_server}, cacert: '{pki.ca}', cert: '{pki.client_cert}', "
        f"key: '{pki.client_key_encrypted}', key_password: '${{TARGET_KEY_PASSWORD}}'",
        env={"TARGET_KEY_PASSWORD": KEY_PASSPHRASE},
    )
    assert set_and_get(redis_client(conn)) == b"ok"


def test_wrong_key_password_is_one_fatal_line_without_it(mtls_server: int, pki: Pki) -> None:
    conn = connection(
        f"type: redis, host: 127.0.0.1, port: {mtls_server}, cacert: '{pki.ca}', cert: '{pki.client_cert}', "
        f"key: '{pki.client_key_encrypted}', key_password: '${{TARGET_KEY_PASSWORD}}'",
        env={"TARGET_KEY_PASSWORD": WRONG_PASSWORD},
    )
    with pytest.raises(FatalError) as raised:
        redis_client(conn)
    message = str(raised.value)
    assert (without_ssl_line(message), KEY_PASSPHRASE in message, WRONG_PASSWORD in message) == (
        f"target `target` (127.0.0.1:{mtls_server}): TLS failed (Error 524297 connecting to 127.0.0.1:{mtls_server}. "
        f"[SSL] PEM lib (_ssl.c:N).); {TLS_FIX}",
        False,
        False,
    )


def test_acl_user_and_password_over_tls_write_as_that_user(tls_server: int, pki: Pki, acl_user: str) -> None:
    config = targets(
        f"type: redis, host: 127.0.0.1, port: {tls_server}, cacert: '{pki.ca}', user: {acl_user}, "
        "password: '${TARGET_DB_PASSWORD}'",
        env={"TARGET_DB_PASSWORD": ACL_PASSWORD},
    )
    connections = TargetConnections(config)
    try:
        client = connections.get("target")
        client.set("acl:probe", "ok")
        assert (client.acl_whoami(), client.get("acl:probe")) == ("app", b"ok")
    finally:
        connections.close()


def test_wrong_acl_password_is_one_fatal_line_without_either_password(tls_server: int, pki: Pki, acl_user: str) -> None:
    config = targets(
        f"type: redis, host: 127.0.0.1, port: {tls_server}, cacert: '{pki.ca}', user: {acl_user}, "
        "password: '${TARGET_DB_PASSWORD}'",
        env={"TARGET_DB_PASSWORD": WRONG_PASSWORD},
    )
    with pytest.raises(FatalError) as raised:
        TargetConnections(config).get("target")
    message = str(raised.value)
    assert (message, ACL_PASSWORD in message, WRONG_PASSWORD in message) == (
        f"target `target` (127.0.0.1:{tls_server}) refused the login (invalid username-password pair or user is "
        "disabled.); check `targets.target.connection.user` and `password`",
        False,
        False,
    )


def test_server_certificate_from_an_untrusted_ca_is_one_fatal_line(tls_server: int, pki: Pki) -> None:
    conn = connection(f"type: redis, host: 127.0.0.1, port: {tls_server}, cacert: '{pki.other_ca}'")
    with pytest.raises(FatalError) as raised:
        redis_client(conn)
    assert without_ssl_line(str(raised.value)) == (
        f"target `target` (127.0.0.1:{tls_server}): TLS failed (Error 1 connecting to 127.0.0.1:{tls_server}. "
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain "
        f"(_ssl.c:N).); {TLS_FIX}"
    )


def test_server_certificate_for_another_host_is_one_fatal_line(other_host_server: int, pki: Pki) -> None:
    conn = connection(f"type: redis, host: 127.0.0.1, port: {other_host_server}, cacert: '{pki.ca}'")
    with pytest.raises(FatalError) as raised:
        redis_client(conn)
    assert without_ssl_line(str(raised.value)) == (
        f"target `target` (127.0.0.1:{other_host_server}): TLS failed (Error 1 connecting to "
        f"127.0.0.1:{other_host_server}. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address "
        f"mismatch, certificate is not valid for '127.0.0.1'. (_ssl.c:N).); {TLS_FIX}"
    )
