"""
A TCP proxy in front of a MongoDB-protocol server (SecantusDB in the tests), on 127.0.0.1 only, that can lose the
reply to a chosen command: the fault a network drop or a timeoutMS expiry causes in production. The command itself
reaches the server and runs; only its answer is dropped, and the client's connection is closed, as a cut cable would.

It reads the wire protocol just enough to name each command (OP_MSG, section 0's first key). Never part of a
production deployment.
"""

import contextlib
import socket
import struct
import threading

import bson

OP_MSG = 2013
_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode


def _command(message: bytes) -> tuple[str, tuple]:
    """The command's name and its transaction (session id, txnNumber), from an OP_MSG's body section."""
    _length, _request_id, _response_to, op_code = _HEADER.unpack_from(message)
    if op_code != OP_MSG or len(message) < 21 or message[20] != 0:  # flagBits (4 bytes), then a kind-0 section
        return "", ()
    (doc_length,) = struct.unpack_from("<i", message, 21)
    document = bson.decode(message[21 : 21 + doc_length])
    lsid = document.get("lsid") or {}
    return next(iter(document), ""), (lsid.get("id"), document.get("txnNumber"))


def _read_message(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, 16)
    if header is None:
        return None
    (length,) = struct.unpack_from("<i", header)
    rest = _read_exactly(sock, length - 16)
    return None if rest is None else header + rest


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return bytes(data)


class MongoProxy:
    """`lose_replies_to(command, count)` arms the fault: the replies to that command in the next `count`
    transactions are lost, the driver's own retries of it included (it retries until its timeoutMS runs out).
    `lose_requests_to` loses the command itself. `lost` counts the messages dropped, by command."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: dict[str, int] = {}
        self._cut: dict[str, int] = {}
        self._doomed: dict[tuple, str] = {}  # (command, transaction) -> "reply" or "request"
        self.lost: dict[str, int] = {}
        self.seen: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._stopped = threading.Event()

    def lose_replies_to(self, command: str, count: int = 1) -> None:
        with self._lock:
            self._armed[command] = self._armed.get(command, 0) + count

    def lose_requests_to(self, command: str, count: int = 1) -> None:
        """The next `count` such commands never reach the server (the connection is cut as they are sent)."""
        with self._lock:
            self._cut[command] = self._cut.get(command, 0) + count

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()
            self._cut.clear()
            self._doomed.clear()

    def start(self) -> "MongoProxy":
        threading.Thread(target=self._accept, daemon=True, name="mongoproxy-accept").start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            doomed: dict[int, str] = {}  # requestIDs whose replies are to be lost, on this connection
            threading.Thread(target=self._requests, args=(client, server, doomed), daemon=True).start()
            threading.Thread(target=self._replies, args=(client, server, doomed), daemon=True).start()

    def _requests(self, client, server, doomed: dict[int, str]) -> None:
        while (message := _read_message(client)) is not None:
            name, txn = _command(message)
            with self._lock:
                self.seen.append(name)
                fate = self._doomed.get((name, txn))
                if fate is None and self._cut.get(name):
                    self._cut[name] -= 1
                    fate = self._doomed[(name, txn)] = "request"
                elif fate is None and self._armed.get(name):
                    self._armed[name] -= 1
                    fate = self._doomed[(name, txn)] = "reply"
                if fate == "request":
                    self.lost[name] = self.lost.get(name, 0) + 1
                elif fate == "reply":
                    doomed[_HEADER.unpack_from(message)[1]] = name
            if fate == "request":
                break
            try:
                server.sendall(message)
            except OSError:
                break
        self._drop(client, server)

    def _replies(self, client, server, doomed: dict[int, str]) -> None:
        while (message := _read_message(server)) is not None:
            response_to = _HEADER.unpack_from(message)[2]
            if response_to in doomed:
                name = doomed.pop(response_to)
                with self._lock:
                    self.lost[name] = self.lost.get(name, 0) + 1
                break  # the server answered; the client never hears it and sees its connection cut
            try:
                client.sendall(message)
            except OSError:
                break
        self._drop(client, server)

    def _drop(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(sockets)
        for sock in sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
