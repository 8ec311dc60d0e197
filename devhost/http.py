"""A base for the local stand-ins: a threaded HTTP server on 127.0.0.1 and a handler with JSON helpers."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Serving:
    """start() and stop() of a stand-in: a socketserver server serving in a daemon thread."""

    def start(self):
        # stop() waits for the serving loop to look up, which it does every poll_interval (0.5 s by default): every
        # test with a stand-in paid that in its teardown.
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class StandInServer(Serving, ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handler):
        super().__init__(("127.0.0.1", port), handler)
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class JSONHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits 40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data, headers=None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _body(self) -> tuple[bytes, object]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None
