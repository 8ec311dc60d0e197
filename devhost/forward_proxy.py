"""A forward HTTP proxy on 127.0.0.1, standing in for a corporate proxy in the tests of OUTBOUND_PROXY_URL.

Plain http only, which is all the stand-ins speak: a request whose target is an absolute URI (`GET http://host/path`)
is sent on to that host and its answer sent back. CONNECT (the tunnel for https) is refused with a 501. Each request
that arrives is recorded in `passed` (method, absolute URI, its Proxy-Authorization), whether or not it went on.
`credentials` set, a request without them is answered 407, as a proxy asking for a login does.
"""

import base64
import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

from .http import JSONHandler, StandInServer

# Headers that belong to one hop (RFC 9110 7.6.1), never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class Passed:
    method: str
    url: str
    proxy_authorization: str | None


class ForwardProxy(StandInServer):
    def __init__(self, port: int = 0, *, credentials: tuple[str, str] | None = None):
        super().__init__(port, _Handler)
        self.credentials = credentials
        self.passed: list[Passed] = []

    @property
    def url(self) -> str:
        """The value of OUTBOUND_PROXY_URL that names this proxy (with its credentials, if it asks for them)."""
        if self.credentials is None:
            return self.base_url
        user, password = self.credentials
        return self.base_url.replace("http://", f"http://{user}:{password}@", 1)

    def expected_authorization(self) -> str | None:
        if self.credentials is None:
            return None
        return "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()


class _Handler(JSONHandler):
    server: ForwardProxy

    def _forward(self) -> None:
        raw, _ = self._body()
        authorization = self.headers.get("Proxy-Authorization")
        with self.server.lock:
            self.server.passed.append(Passed(self.command, self.path, authorization))
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self._json(400, {"error": "a proxy takes absolute http:// URIs"})
            return
        expected = self.server.expected_authorization()
        if expected is not None and authorization != expected:
            self._json(407, {"error": "proxy login required"}, headers={"Proxy-Authenticate": 'Basic realm="proxy"'})
            return
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            upstream.request(self.command, path, body=raw or None, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
        except OSError:
            self._json(502, {"error": "the server did not answer the proxy"})
            return
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    def do_CONNECT(self) -> None:
        with self.server.lock:
            self.server.passed.append(Passed("CONNECT", self.path, self.headers.get("Proxy-Authorization")))
        self._json(501, {"error": "no tunnels here: plain http only"})
