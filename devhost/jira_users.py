"""
The stand-in Jira's people: the user search and lookup calls the panel makes in the browser as the signed-in user
(AP.request in the Jira page; Forge's requestJira does the same from its bridge), answered with display names and
avatar images the stand-in serves itself, so the panel shows real-looking people with no internet.

Who is signed in is a session cookie set with each issue page (the "Viewing as" user), as Jira's own session
would be: these endpoints answer that user and nobody else (no cookie, 401), and they record who asked, so tests
can tell that the browser asked as the user while our server never asked at all.
Hooked into devhost/jira.py: `Directory` on the server, `handle_get` in its GET dispatch, `session_cookie` on the
issue page, `HOST_SCRIPT` in that page and `AP_REQUEST_SHIM` appended to the all.js shim.
"""

import hashlib
import html
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote

COOKIE = "devhost.session"
AVATAR_SIZES = (16, 24, 32, 48)
AVATAR_COLOURS = ("#0c66e4", "#1f845a", "#ae2e24", "#6e5dc6", "#a54800", "#206a83", "#943d73", "#5b7f24")


@dataclass(frozen=True)
class Person:
    account_id: str
    name: str
    email: str
    account_type: str = "atlassian"
    active: bool = True


# The site's people: the four of DEMO_USERS (devhost/jira.py, the "Viewing as" menu) and a few more to search among,
# an app account and a deactivated one (Jira's search lists both kinds; the picker offers neither).
PEOPLE = (
    Person("557058:devhost-alice", "Alice Andersen", "alice@devhost.example"),
    Person("557058:devhost-pat", "Pat Okafor", "pat@devhost.example"),
    Person("557058:devhost-bob", "Bob Brennan", "bob@devhost.example"),
    Person("557058:devhost-carol", "Carol Chen", "carol@devhost.example"),
    Person("557058:devhost-alina", "Alina Novak", "alina@devhost.example"),
    Person("557058:devhost-dmitri", "Dmitri Volkov", "dmitri@devhost.example"),
    Person("557058:devhost-erin", "Erin O'Brien", "erin@devhost.example"),
    Person("557058:devhost-zoe", "Zoë Ångström", "zoe@devhost.example"),
    Person("557058:devhost-automation", "Automation for Jira", "", account_type="app"),
    Person("557058:devhost-alan", "Alan Former", "alan@devhost.example", active=False),
)


@dataclass
class Asked:
    """One call to a people endpoint: who asked (the session's account, "" for none) and what."""

    account_id: str
    path: str
    query: str


class Directory:
    def __init__(self, people=PEOPLE):
        self.people = {p.account_id: p for p in people}
        self.sessions: dict[str, str] = {}  # session cookie value -> accountId
        self.asked: list[Asked] = []

    def session(self, account_id: str) -> str:
        token = secrets.token_urlsafe(18)
        self.sessions[token] = account_id
        return token

    def avatar_key(self, account_id: str) -> str:
        return hashlib.sha256(account_id.encode()).hexdigest()[:16]

    def user_json(self, person: Person, base_url: str) -> dict:
        """A user the way Jira's REST API v3 shapes one (with the email a Jira admin's visibility settings allow)."""
        key = self.avatar_key(person.account_id)
        return {
            "self": f"{base_url}/rest/api/3/user?accountId={quote(person.account_id)}",
            "accountId": person.account_id,
            "accountType": person.account_type,
            "emailAddress": person.email or None,
            "avatarUrls": {f"{s}x{s}": f"{base_url}/avatars/{key}/{s}.svg" for s in AVATAR_SIZES},
            "displayName": person.name,
            "active": person.active,
            "timeZone": "Europe/Berlin",
        }

    def search(self, query: str, limit: int) -> list[Person]:
        """Active users and apps whose name has a word starting with the query, or whose email does (as Jira)."""
        needle = query.strip().casefold()
        found = [
            p
            for p in self.people.values()
            if p.active
            and needle
            and (any(w.startswith(needle) for w in p.name.casefold().split()) or p.email.casefold().startswith(needle))
        ]
        return found[:limit]


def session_cookie(server, account_id: str) -> dict[str, str]:
    """The Set-Cookie header of an issue page viewed as `account_id`."""
    token = server.people.session(account_id)
    return {"Set-Cookie": f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"}


def handle_get(handler, parts) -> bool:
    """Answers GET /rest/api/3/user/search, /user/bulk, /user and /avatars/…; False for any other path."""
    path = parts.path
    if path.startswith("/avatars/"):
        return _avatar(handler, path)
    if path not in ("/rest/api/3/user/search", "/rest/api/3/user/bulk", "/rest/api/3/user"):
        return False
    server, directory = handler.server, handler.server.people
    cookie = SimpleCookie(handler.headers.get("Cookie", ""))
    caller = directory.sessions.get(cookie[COOKIE].value, "") if COOKIE in cookie else ""
    with server.lock:
        directory.asked.append(Asked(caller, path, parts.query))
    if not caller:
        handler._json(401, {"errorMessages": ["You are not logged in."]})
        return True
    query = parse_qs(parts.query)
    limit = _int(query.get("maxResults", [""])[0], default=50 if path.endswith("search") else 10, top=1000)
    if path == "/rest/api/3/user/search":
        text = query.get("query", [""])[0]
        if not text:
            handler._json(400, {"errorMessages": ["One of 'query' or 'property' parameters must be provided."]})
        else:
            handler._json(200, [directory.user_json(p, server.base_url) for p in directory.search(text, limit)])
        return True
    wanted = query.get("accountId", [])
    found = [directory.people[a] for a in wanted if a in directory.people]
    if path == "/rest/api/3/user":
        if not found:
            handler._json(404, {"errorMessages": ["The user with account ID does not exist."]})
        else:
            handler._json(200, directory.user_json(found[0], server.base_url))
        return True
    if not wanted:
        handler._json(400, {"errorMessages": ["accountId is required"]})
        return True
    values = [directory.user_json(p, server.base_url) for p in found[:limit]]
    handler._json(
        200, {"maxResults": limit, "startAt": 0, "total": len(found), "isLast": len(found) <= limit, "values": values}
    )
    return True


def _int(raw: str, *, default: int, top: int) -> int:
    return min(int(raw), top) if raw.isdigit() and int(raw) > 0 else default


def _avatar(handler, path: str) -> bool:
    """An initials avatar, as an SVG image (an image never runs script, whatever the page embedding it allows)."""
    key, _, size_file = path.removeprefix("/avatars/").partition("/")
    person = next(
        (p for p in handler.server.people.people.values() if handler.server.people.avatar_key(p.account_id) == key),
        None,
    )
    size = size_file.removesuffix(".svg")
    if not person or not size.isdigit() or int(size) not in AVATAR_SIZES:
        handler._send(404, b"not found", "text/plain")
        return True
    initials = "".join(word[0] for word in person.name.split()[:2]).upper()
    colour = AVATAR_COLOURS[int(key, 16) % len(AVATAR_COLOURS)]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 32 32">'
        f'<circle cx="16" cy="16" r="16" fill="{colour}"/><text x="16" y="21" text-anchor="middle" '
        f'font-family="sans-serif" font-size="13" font-weight="600" fill="#fff">{html.escape(initials)}</text></svg>'
    )
    handler._send(200, svg.encode(), "image/svg+xml", headers={"Cache-Control": "max-age=3600"})
    return True


# In the Jira page (beside its iframe): AP.request's host side. It runs the panel's GET in the page, with the
# page's session, and posts the answer back, as Jira's own host does.
HOST_SCRIPT = """
(function () {
  var frame = document.getElementById("herochecklist-panel");
  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (!frame || event.source !== frame.contentWindow || !msg || !msg.herochecklistAP) return;
    if (msg.type !== "request") return;
    function reply(status, body) {
      var answer = {herochecklistAP: true, type: "response", id: msg.id, status: status, body: body};
      frame.contentWindow.postMessage(answer, "*");
    }
    if (msg.method !== "GET" || typeof msg.url !== "string" || msg.url.indexOf("/rest/") !== 0) {
      return reply(405, '{"errorMessages":["the stand-in answers GET /rest/... only"]}');
    }
    fetch(msg.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (res) { return res.text().then(function (text) { reply(res.status, text); }); })
      .catch(function () { reply(0, ""); });
  });
})();
"""

# Appended to the all.js shim (in the panel's iframe): AP.request, promise and callback forms, as all.js has them.
AP_REQUEST_SHIM = """
(function () {
  var pending = {}, next = 1;
  window.addEventListener("message", function (event) {
    var msg = event.data;
    if (event.source !== window.parent || !msg || !msg.herochecklistAP || msg.type !== "response") return;
    var settle = pending[msg.id];
    delete pending[msg.id];
    if (settle) settle(msg);
  });
  window.AP.request = function (url, options) {
    options = typeof url === "object" ? url : Object.assign({}, options || {}, {url: url});
    return new Promise(function (resolve, reject) {
      var id = "request-" + next++;
      pending[id] = function (msg) {
        var xhr = {status: msg.status, responseText: msg.body};
        if (msg.status >= 200 && msg.status < 300) {
          if (options.success) options.success(msg.body, "success", xhr);
          resolve({body: msg.body, xhr: xhr});
        } else {
          if (options.error) options.error(xhr, "error", msg.body);
          reject({err: msg.body, xhr: xhr});
        }
      };
      window.parent.postMessage({herochecklistAP: true, type: "request", id: id, url: options.url,
                                 method: (options.type || "GET").toUpperCase()}, "*");
    });
  };
})();
"""
