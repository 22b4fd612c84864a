"""The CLI's side of the API: log in, send requests, turn every failure into one line with the fix.

Errors (each is a :class:`ClientError` carrying the exit code and the lines to print):

* the API cannot be reached → exit 1, "cannot reach the rdi API at URL … (check --api-url or start `rdi api`)";
* 401 → exit 1, with how to log in;
* 400 with located issues (an invalid pipeline) → exit 2, one ``file:line: field: message`` line per issue;
* any other error reply → exit 1, the API's message.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["ApiClient", "ClientError", "Connection"]

_TIMEOUT_S = 30.0


class ClientError(Exception):
    """A failure to show the user: ``lines`` on stderr, then exit with ``code``."""

    def __init__(self, lines: list[str] | str, code: int = 1) -> None:
        self.lines = [lines] if isinstance(lines, str) else lines
        self.code = code
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class Connection:
    """Where the API is and who we are (the password is used once, to log in, and never stored)."""

    api_url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    cacert: str | None = None
    insecure: bool = False

    def verify(self) -> ssl.SSLContext | bool:
        if self.insecure:
            return False
        if self.cacert:
            return ssl.create_default_context(cafile=self.cacert)
        return True


def _issue_line(item: dict[str, Any]) -> str:
    where = str(item.get("file", ""))
    if item.get("line"):
        where += f":{item['line']}"
    text = f"{where}: {item['field']}: {item['message']}" if item.get("field") else f"{where}: {item.get('message')}"
    return text.lstrip(": ")


class ApiClient:
    """Requests to the API with a bearer token obtained by logging in on first use."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._token: str | None = None
        try:
            verify = connection.verify()
        except (OSError, ssl.SSLError) as exc:
            raise ClientError(f"--cacert: cannot load {connection.cacert}: {exc}") from None
        self._http = httpx.Client(base_url=connection.api_url.rstrip("/"), verify=verify, timeout=_TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.connection.api_url
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            hint = "check --api-url (or the context) and that `rdi api` runs"
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc):
                hint = "the API's TLS certificate is not trusted: pass --cacert FILE (or --insecure)"
            raise ClientError(f"cannot reach the rdi API at {url}: {exc}; {hint}") from None
        except httpx.TimeoutException:
            raise ClientError(f"the rdi API at {url} did not answer in {_TIMEOUT_S:.0f}s; try again") from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to the rdi API at {url} failed: {exc}") from None

    def login(self) -> None:
        conn = self.connection
        if not conn.user:
            return
        reply = self._send("POST", "/api/v1/login", json={"username": conn.user, "password": conn.password or ""})
        if reply.status_code == 401:
            raise ClientError(f"login failed: the RDI database rejected user `{conn.user}`; check --user/--password")
        body = self._check(reply)
        self._token = str(body["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful reply; raises ClientError otherwise."""
        if self._token is None and self.connection.user:
            self.login()
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return self._check(self._send(method, path, headers=headers, **kwargs))

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _check(self, reply: httpx.Response) -> Any:
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.is_success:
            return body
        detail = body.get("detail") if isinstance(body, dict) else None
        detail = detail if isinstance(detail, dict) else {"message": str(detail or reply.reason_phrase)}
        message = str(detail.get("message", reply.reason_phrase))
        if reply.status_code == 401:
            how = "pass --user (password prompted, or --password / RDI_PASSWORD) or `rdi set-context`"
            raise ClientError(f"not authorized: {message}; {how}")
        issues = [i for i in detail.get("errors") or [] if isinstance(i, dict)]
        if reply.status_code == 400 and issues:
            raise ClientError([message, *(_issue_line(i) for i in issues)], code=2)
        raise ClientError(f"{message} (HTTP {reply.status_code})")
