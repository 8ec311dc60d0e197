"""
Every request body is read here, once, before any view, so that no view can see a body that is not the one sent.

Django reads exactly Content-Length bytes. A `Transfer-Encoding: chunked` request has no Content-Length, so Django
sees an empty body, and a text PUT would then replace the checklist with nothing. Here a chunked body is read from
the server's de-chunked stream (servers that offer one say so with `wsgi.input_terminated`, gunicorn among them), at
most DATA_UPLOAD_MAX_MEMORY_SIZE bytes of it, counted as they arrive rather than as announced; a server that cannot
de-chunk gets 411 (send a Content-Length).
"""

import io

from django.conf import settings

READ_SIZE = 64 * 1024


# What a body may declare itself in: bodies are read as UTF-8 (JSON is, RFC 8259; so is the text format), and ASCII is
# a part of it. Any other charset named in Content-Type is refused (415) rather than read as UTF-8 regardless.
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def declares_utf8(content_type: str) -> bool:
    """Whether a Content-Type header names no charset, or UTF-8 (or ASCII) however it is spelled or quoted. Latin-1
    text of two-byte sequences is valid UTF-8 too ("Ã©" is the bytes of "é"): read as UTF-8 regardless of what it
    said, it was stored as other text than the one sent, where it should be an error."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').strip().lower() not in UTF8_CHARSETS:
            return False
    return True


class BodyRefused(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail

    def json(self) -> dict:
        return {"error": self.error, "detail": self.detail}


def _too_large(limit: int) -> BodyRefused:
    return BodyRefused(413, "too_large", f"The request body is over the limit of {limit} bytes.")


def load_body(request) -> None:
    """Makes request.body the whole body as sent, or raises BodyRefused (411, 413, 400)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    meta = request.META
    if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        raw = meta.get("CONTENT_LENGTH") or "0"
        if not raw.isascii() or not raw.isdigit():
            raise BodyRefused(400, "bad_request", "Content-Length must be a whole number of bytes.")
        if limit and int(raw) > limit:
            raise _too_large(limit)
        return  # Django reads exactly Content-Length bytes, when a view asks for them
    if not meta.get("wsgi.input_terminated"):
        raise BodyRefused(411, "length_required", "Send the body with a Content-Length header.")
    stream, body = meta["wsgi.input"], bytearray()
    while chunk := stream.read(READ_SIZE):
        body += chunk
        if limit and len(body) > limit:
            raise _too_large(limit)
    request._body = bytes(body)
    request._stream = io.BytesIO(request._body)
    meta["CONTENT_LENGTH"] = str(len(body))
