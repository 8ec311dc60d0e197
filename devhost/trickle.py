"""A server that answers too slowly to finish and too steadily to time out: the fault behind every outbound deadline.

Every request gets a 200 sent one byte at a time, `interval` apart, so a client's per-read timeout never fires; the
answer has no end (its Content-Length is far beyond what is sent). `phase` says what trickles: "headers" (the status
line goes out, then one header byte at a time: the client never gets a response object) or "body" (the headers go out
at once, then one body byte at a time). `answer` set to bytes instead sends that body at once, complete, with a 200
(an answer that is quick but odd, such as JSON nested thousands deep).

A connection trickles for at most `patience` seconds, then the server hangs up. `ended()` waits for the first
connection to end and says who ended it: "client" (the client hung up mid-answer: it gave up on its own) or "server"
(the client sat through the whole of the server's patience, which no deadline of ours allows).
"""

import contextlib
import select
import socket
import threading
import time


class TrickleServer:
    def __init__(self, *, phase: str = "body", interval: float = 0.02, patience: float = 15.0):
        self.phase = phase
        self.interval = interval
        self.patience = patience
        self.answer: bytes | None = None
        self.requests: list[bytes] = []  # the request line of each request, in order
        self._ends: list[str] = []
        self._ended = threading.Condition()
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> "TrickleServer":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the serving thread
        self._listener.close()

    def ended(self, count: int = 1, wait: float = 60.0) -> list[str]:
        """Who ended each of the first `count` connections ("client" or "server"), once that many have ended."""
        with self._ended:
            self._ended.wait_for(lambda: len(self._ends) >= count, timeout=wait)
            return self._ends[:count]

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = self._read_request(conn)
            if request is None:
                return
            self.requests.append(request.split(b"\r\n", 1)[0])
            if self.answer is not None:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
                    + self.answer
                )
                return
            if self.phase == "headers":
                head, drip = b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"
            else:
                head, drip = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n",
                    b" ",
                )
            self._end(self._trickle(conn, head, drip))

    def _trickle(self, conn: socket.socket, head: bytes, drip: bytes) -> str:
        try:
            conn.sendall(head)
            give_up_at = time.monotonic() + self.patience
            while time.monotonic() < give_up_at and not self._stopped.is_set():
                conn.sendall(drip)
                # The pause between bytes is a wait for the client to hang up (its socket turns readable at EOF).
                readable, _, _ = select.select([conn], [], [], self.interval)
                if readable and not conn.recv(65536):
                    return "client"
        except OSError:  # the client's reset, seen on a send
            return "client"
        return "server"

    def _end(self, who: str) -> None:
        with self._ended:
            self._ends.append(who)
            self._ended.notify_all()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes | None:
        """The request's head, its body (Content-Length) read and dropped; None when the client hung up first."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head
