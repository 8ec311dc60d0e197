"""The physical limit of a server on this machine: a WSGI app that answers a fixed JSON body of the size of a
20-item checklist read, with nothing behind it (no Django, no database, no auth). bench/api serves it with the same
server, workers and threads as the app, so `of limit` is the share of what the server itself could do."""

BODY = b'{"items": [' + b",".join(b'{"id": "%d", "text": "Checklist item %d"}' % (n, n) for n in range(20)) + b"]}"
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
