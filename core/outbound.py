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
"""

import os
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx
from django.conf import settings

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
    def __init__(self) -> None:
        super().__init__()
        # httpx (0.28) takes no network backend; httpcore's pool does (a public argument), so the transport gets a pool
        # built as httpx builds its default one, with our backend. tests/core/test_outbound.py fails if this stops
        # taking effect.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_Backend(),
        )


def _new_client() -> httpx.Client:
    """No proxy from the environment (trust_env=False): httpx would send those calls through a transport of its own,
    without the deadline (README, OUTBOUND_TIMEOUT_SECONDS). CA certificates from the environment (SSL_CERT_FILE)
    still apply: the transport's SSL context reads them."""
    return httpx.Client(transport=_Transport(), trust_env=False)


_shared: tuple[int, httpx.Client] | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One client per process, shared by every call and thread: its pool keeps connections open, and the CA bundle is
    loaded once (httpx.request() built a client, and loaded the bundle, for every call). A forked child (gunicorn,
    Celery) makes its own: a pool's sockets must not be shared across processes."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), _new_client())
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
    with deadline(within):
        return (client or shared_client()).request(method, url, **kwargs)
