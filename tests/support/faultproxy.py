"""A fault-injecting TCP proxy for loopback registries, in pure Python.

`FaultProxy(upstream_host, upstream_port)` listens on 127.0.0.1 on a free port and
forwards every connection to the upstream registry. Faults are armed and changed at
run time, and apply to connections accepted from then on (except `cut_after` and the
throttle, which act on bytes as they flow):

* `fail_next(n)`: answer the next n connections with `503 Service Unavailable` after
  reading the request head (`n=None`: every connection until `clear()`);
* `drop_next(n)`: close the next n connections right after accept, without a reply;
* `cut_after(k, count)`: cut the next `count` connections that have sent `k` bytes of
  response, mid-stream (a mid-blob drop), by FIN or, with `reset=True`, by RST;
* `throttle(bytes_per_second, delay, latency)`: slow every response down; `latency`
  seconds pass once per round trip (a new connection, and each response to requests
  sent since the last one), as on a link that far away;
* `stall(seconds)`: accept new connections, then say nothing for that long;
* `serve_manifest(body)`: answer new connections itself, every manifest GET or HEAD
  with `body` (a hostile registry's malformed manifest that a real registry refuses
  to store), `/v2/` with 200, anything else with 404.

It counts connections and the bytes sent from upstream to clients (`bytes_down`), so
benchmarks can measure bytes moved at the proxy. With `log_requests=True` it also
parses the HTTP/1.1 traffic it forwards and keeps one record per request (method,
path, status, response head and body bytes on the wire; `requests()`), so that a
benchmark can say where the bytes went: headers, manifests, repeated blobs. Faulted
connections (503, drop) are not logged; a cut one keeps what got through. The
records' bytes add up to `bytes_down` when every connection spoke plain HTTP/1.1.
It is bounded: loopback only, at most
`max_connections` connections and `max_seconds` of life, after which it stops itself.
Every thread is a daemon and every socket has a timeout.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import struct
import threading
import time

CHUNK = 64 * 1024
HEAD_LIMIT = 64 * 1024
IO_TIMEOUT = 0.5  # seconds per blocking call, so that threads notice stop()
IDLE_LIMIT = 60.0  # a connection silent in both directions this long is closed
CONNECT_TIMEOUT = 5.0

RESPONSE_503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, max_seconds: float = 300.0,
                 max_connections: int = 10_000, log_requests: bool = False):
        if not _loopback(upstream_host):
            raise ValueError(f"upstream {upstream_host!r} is not a loopback address")
        self.upstream = (upstream_host, upstream_port)
        self.max_seconds, self.max_connections = max_seconds, max_connections
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port: int | None = None
        self.connections = 0
        self.bytes_down = 0
        self.faults = {"503": 0, "drop": 0, "cut": 0}
        self.log_requests = log_requests
        self._requests: list[dict] = []
        self._logged_connections = 0
        self.clear()

    @classmethod
    def for_registry(cls, registry, **kwargs) -> FaultProxy:
        host, port = registry.host.rsplit(":", 1)
        return cls(host, int(port), **kwargs)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy has not been started")
        return f"127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(IO_TIMEOUT)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._deadline = time.monotonic() + self.max_seconds
        threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every open connection; safe to call twice."""
        self._stopping.set()
        with self._lock:
            socks, self._sockets = list(self._sockets), set()
        if self._listener is not None:
            socks.append(self._listener)
        for sock in socks:
            _close(sock)

    def close_connections(self, *, reset: bool = False) -> int:
        """Close every open connection (by RST with `reset`), keep listening; how many."""
        with self._lock:
            socks, self._sockets = list(self._sockets), set()
        for sock in socks:
            _close(sock, reset=reset)
        return len(socks)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def repo(self, repo: str) -> str:
        """`HOST:PORT/path` of the upstream registry rewritten to go through the proxy."""
        return f"{self.host}/{repo.split('/', 1)[1]}"

    # -- faults, set at run time -----------------------------------------------------------

    def clear(self) -> None:
        with self._lock:
            self._fail: int | None = 0  # None: every connection
            self._drop = 0
            self._cut_at: int | None = None
            self._cut_count = 0
            self._cut_reset = False
            self._rate: float | None = None
            self._delay = 0.0
            self._latency = 0.0
            self._stall = 0.0
            self._manifest: bytes | None = None

    def serve_manifest(self, body: bytes | None) -> None:
        with self._lock:
            self._manifest = body

    def fail_next(self, n: int | None) -> None:
        with self._lock:
            self._fail = n

    def stall(self, seconds: float) -> None:
        """Accept every new connection, then say nothing for `seconds` (a hung registry)."""
        with self._lock:
            self._stall = seconds

    def drop_next(self, n: int) -> None:
        with self._lock:
            self._drop = n

    def cut_after(self, nbytes: int, count: int = 1, *, reset: bool = False) -> None:
        with self._lock:
            self._cut_at, self._cut_count, self._cut_reset = nbytes, count, reset

    def throttle(self, bytes_per_second: float | None = None, delay: float = 0.0,
                 latency: float = 0.0) -> None:
        """Limit each connection's response rate, and/or sleep `delay` s per chunk, and/or
        `latency` s per round trip."""
        with self._lock:
            self._rate, self._delay, self._latency = bytes_per_second, delay, latency

    def reset_counters(self) -> None:
        """Zero the counters and empty the request log."""
        with self._lock:
            self.connections = self.bytes_down = 0
            self.faults = dict.fromkeys(self.faults, 0)
            self._requests = []

    # -- connections -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            if time.monotonic() > self._deadline:
                self.stop()
                return
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            client.settimeout(IO_TIMEOUT)
            action = self._admit(client)
            threading.Thread(target=self._serve, args=(client, action), daemon=True).start()

    def _admit(self, client: socket.socket) -> str:
        """Count the connection and decide, once, what happens to it."""
        with self._lock:
            self.connections += 1
            self._sockets.add(client)
            if self.connections > self.max_connections:
                return "drop"
            if self._drop > 0:
                self._drop -= 1
                self.faults["drop"] += 1
                return "drop"
            if self._fail is None or self._fail > 0:
                if self._fail is not None:
                    self._fail -= 1
                self.faults["503"] += 1
                return "503"
            if self._stall:
                return "stall"
            if self._manifest is not None:
                return "manifest"
        return "forward"

    def _serve(self, client: socket.socket, action: str) -> None:
        try:
            if action == "503":
                _read_head(client)
                client.sendall(RESPONSE_503)
            elif action == "stall":
                self._stopping.wait(self._stall)
            elif action == "manifest":
                self._answer_manifests(client)
            elif action == "forward":
                self._forward(client)
        except OSError:
            pass
        finally:
            self._forget(client)

    def _answer_manifests(self, client: socket.socket) -> None:
        """Speak just enough of the registry API, keep-alive, to serve `_manifest`."""
        while not self._stopping.is_set():
            head = _read_head(client)
            if not head:
                return
            method, path = (head.split(b"\r\n", 1)[0].split(b" ") + [b"", b""])[:2]
            with self._lock:
                body = self._manifest or b""
            if b"/manifests/" in path:
                status, ctype = b"200 OK", b"application/vnd.oci.image.manifest.v1+json"
            elif path.rstrip(b"/") == b"/v2":
                status, ctype, body = b"200 OK", b"application/json", b"{}"
            else:
                status, ctype, body = b"404 Not Found", b"application/json", b"{}"
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
                           b"\r\nDocker-Distribution-Api-Version: registry/2.0"
                           b"\r\nDocker-Content-Digest: " + digest.encode() +
                           b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" +
                           (b"" if method == b"HEAD" else body))

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=CONNECT_TIMEOUT)
        except OSError:
            return  # the registry is down: the client sees the connection close
        upstream.settimeout(IO_TIMEOUT)
        with self._lock:
            self._sockets.add(upstream)
            self._logged_connections += 1
            conn = self._logged_connections
        log = _HttpLog(self, conn) if self.log_requests else None
        turn = threading.Event()  # set when the client sent a request: a round trip starts
        with self._lock:
            latency = self._latency
        if latency:
            self._stopping.wait(latency)  # the connection's own handshake
        try:
            up = threading.Thread(target=self._pump_up, args=(client, upstream, log, turn),
                                  daemon=True)
            up.start()
            self._pump_down(upstream, client, log, turn)
        finally:
            self._forget(upstream)

    def _pump_up(self, client: socket.socket, upstream: socket.socket,
                 log: _HttpLog | None = None, turn: threading.Event | None = None) -> None:
        """Requests, client to registry, unchanged (parsed before they go, when logging)."""

        def before(data: bytes) -> None:
            if turn is not None:
                turn.set()  # before the request goes: its response pays the latency
            if log is not None:
                log.requests.feed(data)

        try:
            _pump(client, upstream, self._stopping, lambda n: None, before=before)
        except OSError:
            pass
        finally:
            _close(upstream)  # ends _pump_down too
            _close(client)

    def _pump_down(self, upstream: socket.socket, client: socket.socket,
                   log: _HttpLog | None = None, turn: threading.Event | None = None) -> None:
        """Responses, registry to client: counted, throttled and maybe cut."""
        sent = 0

        def on_chunk(n: int) -> None:
            nonlocal sent
            sent += n
            with self._lock:
                self.bytes_down += n
                rate, delay, latency = self._rate, self._delay, self._latency
            pause = delay + (n / rate if rate else 0.0)
            if latency and turn is not None and turn.is_set():
                turn.clear()
                pause += latency
            if pause:
                self._stopping.wait(pause)

        def limit() -> int:
            """How many bytes may go before the cut, or CHUNK when no cut applies."""
            with self._lock:
                at, count, rate = self._cut_at, self._cut_count, self._rate
            size = max(1024, min(CHUNK, int(rate / 10))) if rate else CHUNK
            if at is None or count <= 0:
                return size
            return min(size, at - sent)

        try:
            _pump(upstream, client, self._stopping, on_chunk, limit, self._cut,
                  before=log.responses.feed if log else None)
        except OSError:
            pass

    def _cut(self, client: socket.socket) -> bool:
        """Spend one cut on this connection; False when another took the last one."""
        with self._lock:
            if self._cut_count <= 0:
                return False
            self._cut_count -= 1
            self.faults["cut"] += 1
            reset = self._cut_reset
        _close(client, reset=reset)
        return True

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close(sock)

    # -- reporting -------------------------------------------------------------------------

    def stats(self) -> dict:
        with self._lock:
            return {"connections": self.connections, "bytes_down": self.bytes_down,
                    **{f"faults_{k}": v for k, v in self.faults.items()}}

    def requests(self) -> list[dict]:
        """The request log since the last `reset_counters()` (empty unless `log_requests`).

        One dict per request, in the order the requests were sent: `connection` (its
        number), `method`, `path`, `status` (None while unanswered), `head_bytes` and
        `body_bytes` of the response as sent to the client (a chunked body with its
        framing), and `parsed` (False when the connection stopped being parseable).
        """
        with self._lock:
            return [dict(r) for r in self._requests]


class _HttpLog:
    """Parses both directions of one proxied connection into the proxy's request log.

    The request side is fed before each chunk is forwarded, so a request is in the log
    before the registry can answer it; responses are matched to requests in order
    (HTTP/1.1 answers in order). Anything unexpected (not HTTP, a head too long) marks
    the connection unparseable instead of guessing.
    """

    def __init__(self, proxy: FaultProxy, connection: int):
        self.proxy, self.connection = proxy, connection
        self.pending: list[dict] = []  # requests of this connection not answered yet
        self.requests = _HttpStream(self._on_request, lambda n: None, self._broken)
        self.responses = _HttpStream(self._on_response, self._on_body, self._broken)
        self.current: dict | None = None  # the request whose response body is flowing

    def _on_request(self, head: bytes | None):
        """A request head; None for bytes that are not HTTP (a client trying TLS first)."""
        line, headers = _parse_head(head or b"")
        parts = line.split(" ")
        http = head is not None and len(parts) == 3 and parts[2].startswith("HTTP/")
        record = {"connection": self.connection,
                  "method": parts[0] if http else "(not HTTP)", "path": parts[1] if http else "",
                  "status": None, "head_bytes": 0, "body_bytes": 0, "parsed": http}
        with self.proxy._lock:
            self.proxy._requests.append(record)
            self.pending.append(record)
        if not http:
            return None
        mode = _body_mode(headers, no_body=False)
        # A request without Content-Length or chunking has no body (RFC 9112 6.3), unlike
        # a response, whose body then runs to the close: the next request may follow.
        return ("length", 0) if mode == ("close", 0) else mode

    def _on_response(self, head: bytes | None):
        if head is None:
            return None
        line, headers = _parse_head(head)
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return None
        status = int(parts[1])
        with self.proxy._lock:
            if self.pending:
                record = self.pending[0]
            else:  # an answer to nothing we saw: log it rather than lose its bytes
                record = {"connection": self.connection, "method": "?", "path": "?",
                          "status": None, "head_bytes": 0, "body_bytes": 0, "parsed": False}
                self.proxy._requests.append(record)
                self.pending.append(record)
            record["head_bytes"] += len(head)
            if 100 <= status < 200:  # 100 Continue: the real answer follows
                return ("length", 0)
            record["status"] = status
            self.pending.pop(0)
            self.current = record
        return _body_mode(headers, no_body=record["method"] == "HEAD" or status in (204, 304))

    def _on_body(self, n: int) -> None:
        if self.current is not None:
            with self.proxy._lock:
                self.current["body_bytes"] += n

    def _broken(self) -> None:
        with self.proxy._lock:
            for record in self.pending:
                record["parsed"] = False
            if self.current is not None:
                self.current["parsed"] = False


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _body_mode(headers: dict[str, str], *, no_body: bool) -> tuple[str, int] | None:
    if no_body:
        return ("length", 0)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return ("chunked", 0)
    if "content-length" in headers:
        try:
            return ("length", int(headers["content-length"]))
        except ValueError:
            return None
    return ("close", 0)


class _HttpStream:
    """One direction of HTTP/1.1 split into messages: each head goes to `on_head`, which
    says how its body is framed; body bytes (with chunk framing) go to `on_body`."""

    def __init__(self, on_head, on_body, on_broken):
        self.on_head, self.on_body, self.on_broken = on_head, on_body, on_broken
        self.buf = b""
        self.state = "head"
        self.remaining = 0

    def feed(self, data: bytes) -> None:
        if self.state == "broken":
            return
        self.buf += data
        while self.buf and self.state != "broken":
            if not self._step():
                return

    def _break(self) -> bool:
        self.state, self.buf = "broken", b""
        self.on_broken()
        return False

    def _take(self, n: int) -> None:
        self.on_body(n)
        self.buf = self.buf[n:]

    def _line(self) -> bytes | None:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > HEAD_LIMIT:
                self._break()
            return None
        line = self.buf[:end]
        self._take(end + 2)
        return line

    def _step(self) -> bool:
        """Consume what the buffer allows; False when it needs more bytes."""
        if self.state == "head":
            if not self.buf[:1].isalpha():  # not a request or status line: not HTTP
                self.on_head(None)
                return self._break()
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return self._break() if len(self.buf) > HEAD_LIMIT else False
            head, self.buf = self.buf[:end + 4], self.buf[end + 4:]
            mode = self.on_head(head)
            if mode is None:
                return self._break()
            self.state, self.remaining = mode
            if self.state == "length" and self.remaining == 0:
                self.state = "head"
            elif self.state == "chunked":
                self.state = "chunk-size"
        elif self.state in ("length", "chunk-data"):
            n = min(self.remaining, len(self.buf))
            self._take(n)
            self.remaining -= n
            if self.remaining == 0:
                self.state = "head" if self.state == "length" else "chunk-size"
        elif self.state == "close":
            self._take(len(self.buf))
        elif self.state == "chunk-size":
            line = self._line()
            if line is None:
                return False
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return self._break()
            # the data and the CRLF after it; the last chunk is followed by trailers
            self.state, self.remaining = ("trailer", 0) if size == 0 else ("chunk-data",
                                                                         size + 2)
        elif self.state == "trailer":
            line = self._line()
            if line is None:
                return False
            if not line:
                self.state = "head"
        return True


def _pump(src: socket.socket, dst: socket.socket, stopping: threading.Event, on_chunk,
          limit=lambda: CHUNK, cut=None, before=None) -> None:
    """Copy src to dst until EOF, stop, an idle spell or a cut (when `limit` reaches 0).

    `before`, when given, sees each chunk before it is sent on (the request log)."""
    idle_since = time.monotonic()
    while not stopping.is_set():
        size = limit()
        if size <= 0 and cut is not None and cut(dst):
            return
        try:
            data = src.recv(max(size, 1) if size > 0 else CHUNK)
        except TimeoutError:
            if time.monotonic() - idle_since > IDLE_LIMIT:
                return
            continue
        if not data:
            return
        idle_since = time.monotonic()
        if before is not None:
            before(data)
        # Counted (and throttled) before it goes: counted after, a client that has read
        # the whole response could look at the counters before the last chunk is in.
        on_chunk(len(data))
        if not _send_all(dst, data, stopping):
            return
    return


def _send_all(sock: socket.socket, data: bytes, stopping: threading.Event) -> bool:
    """sendall that outlasts the socket timeout: a client busy writing what it got (a
    slow disk) stops reading for a while, and that is back-pressure, not a dead peer.
    False when stopped or after IDLE_LIMIT without progress."""
    view, stuck_since = memoryview(data), time.monotonic()
    while view:
        if stopping.is_set():
            return False
        try:
            sent = sock.send(view)
        except TimeoutError:
            if time.monotonic() - stuck_since > IDLE_LIMIT:
                return False
            continue
        view, stuck_since = view[sent:], time.monotonic()
    return True


def _read_head(sock: socket.socket) -> bytes:
    """The request line and headers, so that the client has sent before it is answered."""
    head = b""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT and time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        if not data:
            break
        head += data
        if not head[:1].isalpha():
            break  # not HTTP (a TLS hello from a client trying https first): answer now
    return head


def _close(sock: socket.socket, *, reset: bool = False) -> None:
    try:
        if reset:  # linger 0: close sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
