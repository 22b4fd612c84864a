"""A Redis replica-protocol client: follow a master's replication stream, as a replica would, without storing data.

The handshake (Redis' ``replication.c``, ``syncWithMaster``): ``AUTH`` (ACL user + password), ``REPLCONF
listening-port``, ``REPLCONF capa eof capa psync2``, then ``PSYNC <replid> <offset>`` — the first byte wanted —
or ``PSYNC ? -1`` on a first start. The master answers

* ``+CONTINUE [<new replid>]``: the stream goes on from that byte (the replid changes after a failover);
* ``+FULLRESYNC <replid> <offset>``: the backlog does not hold that byte any more (or this is a first start). An
  RDB snapshot follows, as ``$<length>\\r\\n<bytes>`` or, diskless, ``$EOF:<40-byte mark>\\r\\n<bytes><mark>``.
  It is skipped chunk by chunk, never held in memory; the stream then starts after ``<offset>`` (Redis 7 sends
  it only once a ``REPLCONF ACK`` arrives after the master finished the RDB transfer, hence the repeated ACKs).

Before a reply and while the master prepares the RDB it sends bare ``\\n`` keep-alives, which are not part of
the stream. After that every byte counts in the replication offset: the stream is RESP arrays of bulk strings
(commands), and :meth:`ReplicaClient.read` returns each with the offset of its last byte, so a caller stores
exactly how far it processed. ``REPLCONF GETACK`` is answered at once with the offset acknowledged last; the
caller acknowledges (``REPLCONF ACK <offset>``, which also keeps the master from timing the replica out) with
:meth:`ReplicaClient.ack`, about every second.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from dataclasses import dataclass

__all__ = ["Command", "ReplicaClient", "ReplicationRefused", "SyncReply"]

_CHUNK = 1 << 18
_EOF_MARK_LEN = 40


class ReplicationRefused(Exception):
    """The master refused the replica handshake (``-NOPERM``, ``-ERR`` ...): the text is its one-line reply."""


@dataclass(frozen=True, slots=True)
class SyncReply:
    """The master's answer to PSYNC: ``full`` (an RDB followed, now skipped) or a continuation."""

    full: bool
    replid: str
    offset: int  # the last byte of the stream before the first command read next


@dataclass(frozen=True, slots=True)
class Command:
    args: list[bytes]
    end: int  # replication offset of the command's last byte


class ReplicaClient:
    """One replication connection. Not thread-safe; ``close()`` when done."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        user: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.address = f"{host}:{port}"
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        self.timeout = timeout
        self.buf = bytearray()
        self.pos = 0  # start of unparsed bytes in buf
        self.offset = 0  # replication offset of buf[pos - 1]
        self.acked = 0
        self.acked_at = 0.0
        try:
            if password is not None:
                self._call("AUTH", b"AUTH", *([user.encode()] if user else []), password.encode())
            listening = str(self.sock.getsockname()[1]).encode()
            self._call("REPLCONF listening-port", b"REPLCONF", b"listening-port", listening)
            self._call("REPLCONF capa", b"REPLCONF", b"capa", b"eof", b"capa", b"psync2")
        except BaseException:
            self.close()
            raise

    # ---- handshake ----------------------------------------------------------------------------------

    def psync(self, replid: str | None, offset: int | None) -> SyncReply:
        """``PSYNC``: ``offset`` is the last byte already processed (``None``: ask for a full sync). Skips the RDB
        of a full sync. Raises :class:`ReplicationRefused` on an error reply."""
        if replid is None or offset is None:
            self._send(b"PSYNC", b"?", b"-1")
        else:
            self._send(b"PSYNC", replid.encode(), str(offset + 1).encode())
        line = self._line(skip_keepalives=True)
        if line.startswith(b"+FULLRESYNC"):
            _, new_id, start = line.split()
            self._skip_rdb()
            self.offset = int(start)
            self.ack(self.offset)
            return SyncReply(True, new_id.decode(), self.offset)
        if line.startswith(b"+CONTINUE"):
            parts = line.split()
            self.offset = self.acked = offset or 0
            return SyncReply(False, parts[1].decode() if len(parts) > 1 else (replid or ""), self.offset)
        raise ReplicationRefused(line.decode(errors="replace").lstrip("-+"))

    # ---- stream ---------------------------------------------------------------------------------------

    def read(self, wait: float) -> list[Command]:
        """The complete commands received within ``wait`` seconds (at least one read; empty on a quiet stream).
        Answers ``REPLCONF GETACK`` itself (and still returns it), and repeats the last acknowledgement when none
        was sent for a second (a master starts a full sync's stream only on an ACK that arrives after it is done
        sending the RDB). Raises ``ConnectionError`` when the master closes the link."""
        if time.monotonic() - self.acked_at >= 1.0:
            self.ack(self.acked)
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(_CHUNK)
        except TimeoutError:
            return []
        except ssl.SSLWantReadError:
            return []
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            raise ConnectionError(f"the Redis master at `{self.address}` closed the replication link")
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += data
        commands = self._parse()
        for c in commands:
            if len(c.args) >= 2 and c.args[0].lower() == b"replconf" and c.args[1].lower() == b"getack":
                self.ack(self.acked)
        return commands

    def keepalive(self) -> None:
        """Repeat the last acknowledgement when a second has passed without one (without reading)."""
        if time.monotonic() - self.acked_at >= 1.0:
            self.ack(self.acked)

    def ack(self, offset: int) -> None:
        """``REPLCONF ACK <offset>``: tell the master the stream is processed up to ``offset``."""
        self.acked = offset
        self.acked_at = time.monotonic()
        self._send(b"REPLCONF", b"ACK", str(offset).encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    # ---- private ----------------------------------------------------------------------------------

    def _parse(self) -> list[Command]:
        buf, pos, end = self.buf, self.pos, len(self.buf)
        out: list[Command] = []
        offset = self.offset
        while pos < end:
            if buf[pos] == 0x0A:  # a bare newline (inline keep-alive)
                pos += 1
                offset += 1
                continue
            if buf[pos] != 0x2A:  # `*`
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                offset += nl + 1 - pos
                out.append(Command(bytes(buf[pos:nl]).strip().split(), offset))  # an inline command
                pos = nl + 1
                continue
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                break
            count = int(buf[pos + 1 : nl])
            p = nl + 2
            args: list[bytes] = []
            complete = True
            for _ in range(count):
                nl = buf.find(b"\r\n", p)
                if nl < 0:
                    complete = False
                    break
                size = int(buf[p + 1 : nl])
                start = nl + 2
                if start + size + 2 > end:
                    complete = False
                    break
                args.append(bytes(buf[start : start + size]))
                p = start + size + 2
            if not complete:
                break
            offset += p - pos
            pos = p
            if args:
                out.append(Command(args, offset))
        self.pos = pos
        self.offset = offset
        return out

    def _skip_rdb(self) -> None:
        header = self._line(skip_keepalives=True)
        if not header.startswith(b"$"):
            raise ConnectionError(f"the Redis master at `{self.address}` sent {header[:40]!r} instead of an RDB")
        rest = self.buf[self.pos :]
        self.buf = bytearray()
        self.pos = 0
        if header.startswith(b"$EOF:"):
            mark = bytes(header[5:])
            if len(mark) != _EOF_MARK_LEN:
                raise ConnectionError(f"the Redis master at `{self.address}` sent a malformed RDB end mark")
            tail = bytes(rest)
            while True:
                at = tail.find(mark)
                if at >= 0:
                    self.buf = bytearray(tail[at + _EOF_MARK_LEN :])
                    return
                tail = tail[-(_EOF_MARK_LEN - 1) :] + self._recv()
        left = int(header[1:])
        if len(rest) >= left:
            self.buf = bytearray(rest[left:])
            return
        left -= len(rest)
        while left > 0:
            data = self._recv(min(left, _CHUNK))
            if len(data) > left:
                self.buf = bytearray(data[left:])
            left -= len(data)

    def _recv(self, size: int = _CHUNK) -> bytes:
        data = self.sock.recv(size)
        if not data:
            raise ConnectionError(f"the Redis master at `{self.address}` closed the replication link")
        return data

    def _line(self, *, skip_keepalives: bool = False) -> bytes:
        deadline = time.monotonic() + max(self.timeout, 60.0)
        while True:
            nl = self.buf.find(b"\n", self.pos)
            if nl >= 0:
                line = bytes(self.buf[self.pos : nl]).rstrip(b"\r")
                self.pos = nl + 1
                if line or not skip_keepalives:
                    return line
                continue
            if time.monotonic() > deadline:
                raise ConnectionError(f"the Redis master at `{self.address}` sent no reply")
            if self.pos:
                del self.buf[: self.pos]
                self.pos = 0
            self.buf += self._recv()

    def _send(self, *args: bytes) -> None:
        out = bytearray(b"*%d\r\n" % len(args))
        for a in args:
            out += b"$%d\r\n%b\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _call(self, label: str, *args: bytes) -> bytes:
        self._send(*args)  # `label` names the command in an error: never the arguments (AUTH's password)
        line = self._line()
        if line.startswith(b"-"):
            raise ReplicationRefused(f"{label}: {line[1:].decode(errors='replace')}")
        return line
