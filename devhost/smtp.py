"""A mail server stand-in on 127.0.0.1: enough SMTP for Django's SMTP backend (EHLO, MAIL, RCPT, DATA, RSET, QUIT),
keeping what it accepted and refusing the recipients it is told to refuse (550), as a real server refuses an
address it does not deliver to. It can also hang up in the middle of a session, once, as a server that restarts or
drops a connection does (hang_up_after)."""

import socketserver
import threading
from dataclasses import dataclass, field

from .http import Serving


@dataclass
class Accepted:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class _Session:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)


class SMTPStandIn(Serving, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.accepted: list[Accepted] = []
        self.refuse: set[str] = set()  # recipient addresses answered with 550
        # Hang up once, when this many messages have been accepted in all: at the next MAIL (nothing in flight), or,
        # with hang_up_before_reply, after storing the next message but before saying so (the client never hears it).
        self.hang_up_after: int | None = None
        self.hang_up_before_reply = False

    @property
    def port(self) -> int:
        return self.server_address[1]


def _address(argument: str) -> str:
    return argument.partition(":")[2].strip().split(" ")[0].strip("<>").lower()


class _Handler(socketserver.StreamRequestHandler):
    server: SMTPStandIn

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def _hang_up(self, *, before_reply: bool) -> bool:
        """Whether to drop the connection now (once): the handler returns and the socket is closed unanswered."""
        server = self.server
        with server.lock:
            accepted = len(server.accepted) - (1 if before_reply else 0)
            if server.hang_up_after is None or server.hang_up_before_reply != before_reply:
                return False
            if accepted < server.hang_up_after:
                return False
            server.hang_up_after = None
            return True

    def handle(self):
        session = _Session()
        self._reply("220 127.0.0.1 stand-in ESMTP")
        while raw := self.rfile.readline():
            verb, _, argument = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.wfile.write(b"250-127.0.0.1\r\n250 8BITMIME\r\n")
            elif verb == "HELO" or verb == "NOOP":
                self._reply("250 ok")
            elif verb == "MAIL":
                if self._hang_up(before_reply=False):
                    return
                session = _Session(sender=_address(argument))
                self._reply("250 ok")
            elif verb == "RCPT":
                recipient = _address(argument)
                if recipient in self.server.refuse:
                    self._reply("550 5.1.1 no such user here")
                else:
                    session.recipients.append(recipient)
                    self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line)
                with self.server.lock:
                    self.server.accepted.append(Accepted(session.sender, session.recipients, b"".join(lines)))
                if self._hang_up(before_reply=True):
                    return
                session = _Session()
                self._reply("250 ok: queued")
            elif verb == "RSET":
                session = _Session()
                self._reply("250 ok")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 command not implemented")
