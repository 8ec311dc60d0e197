"""Every call from us to another server (Jira, Atlassian's keys, the Marketplace) goes out through here, so that each
exchange has a total deadline.

httpx's timeouts are per operation: the connect, each read, each write. A server that sends one byte a second (never
idle as long as the read timeout) held a Celery worker, or a user's request, for as long as it kept trickling. Here
every wait on the socket (connect, TLS handshake, each write and each read, headers and body alike) is cut to what is
left of the exchange's deadline, so an exchange ends by its deadline whatever the other side does. Running out is
httpx's own timeout error (ConnectTimeout, ReadTimeout, WriteTimeout: all httpx.TimeoutException), so every caller's
path for "the server did not answer in time" is also its path for "the server answered too slowly".

The deadline lives in a context variable set by `request()`: the pool and its connections are shared by every thread,
the deadline belongs to the call in progress on this thread.

With OUTBOUND_PROXY_URL set (core/proxy.py) the pool is httpcore's proxy pool on the same sockets: plain http goes to
the proxy as an absolute URI, https through a CONNECT tunnel, and every wait on the proxy's socket (the CONNECT's
answer included) is cut to the same deadline, so a slow proxy is bounded as a slow server is.
"""

import os
import socket
import threading
import time
import typing
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx
import urllib3
import urllib3.connection
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import proxy as outbound_proxy

_deadline: ContextVar[float | None] = ContextVar("outbound_deadline", default=None)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """The wait allowed for one socket operation: its own timeout, cut to what is left of the deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the exchange's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own sockets, whose every wait is cut to the deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, wait, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable | None = None):
        return _Stream(self._inner.connect_unix_socket(path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, proxy: outbound_proxy.Proxy | None = None) -> None:
        super().__init__()
        # httpx (0.28) takes no network backend; httpcore's pools do (a public argument), so the transport gets a pool
        # built as httpx builds its default one (or its proxy one: HTTPTransport(proxy=...)), with our backend.
        # tests/core/test_outbound.py and tests/core/test_proxy.py fail if this stops taking effect.
        ssl_context = httpx.create_ssl_context()
        if proxy is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=ssl_context,
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=5.0,
                network_backend=_Backend(),
            )
            return
        credentials = proxy.credentials
        self._pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(scheme=proxy.scheme.encode(), host=proxy.host.encode(), port=proxy.port, target="/"),
            proxy_auth=(credentials[0].encode(), credentials[1].encode()) if credentials else None,
            ssl_context=ssl_context,
            # An https:// proxy is verified against the same CA bundle as every server (SSL_CERT_FILE included: a
            # corporate proxy's own CA goes there).
            proxy_ssl_context=ssl_context if proxy.scheme == "https" else None,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_Backend(),
        )


def _new_client(proxy_url: str) -> httpx.Client:
    """No proxy from the environment (trust_env=False): httpx would send those calls through a transport of its own,
    without the deadline (README, OUTBOUND_TIMEOUT_SECONDS); the one proxy is OUTBOUND_PROXY_URL, through ours. CA
    certificates from the environment (SSL_CERT_FILE) still apply: the transport's SSL context reads them."""
    try:
        proxy = outbound_proxy.parse(proxy_url)
    except outbound_proxy.BadProxyURL as exc:
        # The configuration check (herochecklist.E008) stops a process with such a value from starting.
        raise ImproperlyConfigured(f"OUTBOUND_PROXY_URL {exc}") from None
    return httpx.Client(transport=_Transport(proxy), trust_env=False)


_shared: tuple[tuple[int, str], httpx.Client] | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One client per process, shared by every call and thread: its pool keeps connections open, and the CA bundle is
    loaded once (httpx.request() built a client, and loaded the bundle, for every call). A forked child (gunicorn,
    Celery) makes its own: a pool's sockets must not be shared across processes. So does another OUTBOUND_PROXY_URL
    (the tests change it)."""
    global _shared
    key = (os.getpid(), settings.OUTBOUND_PROXY_URL)
    with _shared_lock:
        if _shared is None or _shared[0] != key:
            _shared = (key, _new_client(key[1]))
        return _shared[1]


@contextmanager
def deadline(seconds: float):
    """Every exchange within this block ends within `seconds` of entering it (an enclosing, earlier deadline wins)."""
    at = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(at if current is None else min(current, at))
    try:
        yield
    finally:
        _deadline.reset(token)


def request(
    method: str,
    url: str,
    *,
    within: float | None = None,
    client: httpx.Client | None = None,
    **kwargs,
) -> httpx.Response:
    """One exchange (connect, send, the whole answer read) that ends within `within` seconds (default
    OUTBOUND_DEADLINE_SECONDS), each wait on the socket also at most OUTBOUND_TIMEOUT_SECONDS. Raises httpx's errors:
    a deadline that passed is an httpx.TimeoutException like any other timeout."""
    within = settings.OUTBOUND_DEADLINE_SECONDS if within is None else within
    kwargs.setdefault("timeout", min(settings.OUTBOUND_TIMEOUT_SECONDS, within))
    # The client first: a process's first call builds it and loads the CA bundle, local work that must not eat the
    # exchange's time (a loaded machine spent most of a 0.3 s deadline on it, and the test of that deadline flaked).
    client = client or shared_client()
    with deadline(within):
        return client.request(method, url, **kwargs)


# --- urllib3 (hubspot-api-client) -------------------------------------------------------------------------------------
# urllib3's Timeout is per operation too: Timeout(total=...) bounds the connect plus *each* read, never the exchange, so
# a server trickling its answer held a Celery worker as long as it liked. The same cure as httpcore's: connections whose
# every wait on the socket (connect, proxy tunnel, TLS handshake, each send and each read) is cut to what is left of the
# deadline `deadline()` set. Running out raises socket.timeout, which urllib3 turns into its own ConnectTimeoutError or
# ReadTimeoutError, so a caller's path for "no answer in time" is also its path for "answered too slowly".


class _DeadlineSocket:
    """A connected socket (plain, TLS, or TLS in TLS) whose each wait is cut to the deadline. http.client reads a
    response through makefile(): socket.socket's own makefile, run on this object, reads through recv_into below and
    keeps the socket open until the file is closed (a response outlives its connection's close())."""

    makefile = socket.socket.makefile
    _decref_socketios = socket.socket._decref_socketios  # type: ignore[attr-defined]  # private, as makefile uses it
    close = socket.socket.close

    def __init__(self, inner) -> None:
        self._inner = inner
        self._timeout = inner.gettimeout()
        self._io_refs = 0
        self._closed = False

    def _real_close(self) -> None:
        self._inner.close()

    def _cut(self) -> None:
        self._inner.settimeout(_left(self._timeout, socket.timeout))

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._inner.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        self._cut()
        return self._inner.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._cut()
        return self._inner.recv(bufsize, flags)

    def sendall(self, data, flags: int = 0) -> None:
        self._cut()  # a socket's timeout bounds a whole sendall (Python 3.5+), not each piece of it
        self._inner.sendall(data, flags)

    def send(self, data, flags: int = 0) -> int:
        self._cut()
        return self._inner.send(data, flags)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)  # fileno (urllib3's dropped-connection check), shutdown, getpeercert, ...


def _connect_timeout(timeout) -> float | None:
    """The connection's connect timeout cut to the deadline (urllib3's default sentinel is no timeout of its own)."""
    return _left(timeout if isinstance(timeout, int | float) else None, socket.timeout)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        timeout, self.timeout = self.timeout, _connect_timeout(self.timeout)
        try:
            # Plain http, to the server or to a forwarding proxy: every read and write after the connect is cut.
            return typing.cast(socket.socket, _DeadlineSocket(super()._new_conn()))
        finally:
            self.timeout = timeout


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        # The TLS handshake that follows runs on this socket with this timeout: CPython bounds a whole handshake by it.
        timeout, self.timeout = self.timeout, _connect_timeout(self.timeout)
        try:
            return super()._new_conn()
        finally:
            self.timeout = timeout

    def _tunnel(self) -> None:
        # The proxy's answer to CONNECT, read with each wait cut; TLS then wraps the plain socket (ssl takes no other).
        plain = self.sock
        self.sock = typing.cast(socket.socket, _DeadlineSocket(plain))
        try:
            super()._tunnel()
        finally:
            self.sock = plain

    def connect(self) -> None:
        super().connect()
        self.sock = typing.cast(socket.socket, _DeadlineSocket(self.sock))


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def urllib3_with_deadline(pool_manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """A PoolManager (or ProxyManager) whose connections, new from now on, keep the deadline `deadline()` sets."""
    pool_manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return pool_manager
