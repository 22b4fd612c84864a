"""Obtaining Debezium Server and a Java for it: the repository URL, download failures as one line, Java lookup.

Downloads go to an HTTP server this test runs on 127.0.0.1 (a Maven mirror in a settings.xml under a scratch
HOME); nothing leaves the machine.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rdi.collectors.debezium_server import DEBEZIUM_VERSION, distribution_url, ensure_distribution, find_java
from rdi.errors import FatalError

ARTIFACT = f"io/debezium/debezium-server-dist/{DEBEZIUM_VERSION}/debezium-server-dist-{DEBEZIUM_VERSION}.tar.gz"


def settings(mirror: str) -> str:
    return f"""<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors>
    <mirror><id>corp</id><mirrorOf>central</mirrorOf><url>{mirror}</url></mirror>
  </mirrors>
</settings>"""


class _Repository(BaseHTTPRequestHandler):
    """Serves a wrong archive (and no .sha1) for every path."""

    def do_GET(self) -> None:
        if self.path.endswith(".sha1"):
            self.send_error(404)
            return
        body = b"not a tarball"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def repository() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Repository)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/maven2"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_url_is_maven_central_unless_settings_name_a_mirror_of_central() -> None:
    root = ET.fromstring(settings("https://repo.example/m2/"))
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    assert (distribution_url(None), distribution_url(root)) == (
        f"https://repo1.maven.org/maven2/{ARTIFACT}",
        f"https://repo.example/m2/{ARTIFACT}",
    )


def test_an_unreachable_repository_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".m2").mkdir()
    (tmp_path / ".m2" / "settings.xml").write_text(settings("http://127.0.0.1:9/maven2"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FatalError) as caught:
        ensure_distribution(tmp_path / "cache" / "debezium-server", progress=lambda _: None)
    message = str(caught.value)
    assert (
        message.startswith(f"cannot download Debezium Server from http://127.0.0.1:9/maven2/{ARTIFACT}: "),
        message.endswith("; set RDI_DEBEZIUM_HOME to an unpacked debezium-server-dist"),
        "\n" in message,
        (tmp_path / "cache" / "debezium-server").exists(),
    ) == (True, True, False, False)


def test_a_download_that_does_not_match_the_pinned_sha1_is_refused_and_nothing_is_unpacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repository: str
) -> None:
    (tmp_path / ".m2").mkdir()
    (tmp_path / ".m2" / "settings.xml").write_text(settings(repository))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FatalError, match=r"^checksum mismatch for http://127\.0\.0\.1:\d+/maven2/io/debezium/"):
        ensure_distribution(tmp_path / "cache" / "debezium-server", progress=lambda _: None)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == []


def test_java_is_21_or_later() -> None:
    import subprocess

    out = subprocess.run([str(find_java()), "-version"], capture_output=True, text=True, check=True)
    major = int(out.stderr.split('"')[1].split(".")[0])
    assert major >= 21
