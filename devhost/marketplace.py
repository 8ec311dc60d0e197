"""A local Atlassian Marketplace reporting API: our licenses, paged, behind Basic auth."""

import base64
import time
from urllib.parse import parse_qsl, urlsplit

from .http import JSONHandler, StandInServer


class MarketplaceStandIn(StandInServer):
    def __init__(
        self,
        port: int = 0,
        *,
        vendor_id: str = "1234",
        email: str = "vendor@example.com",
        token: str = "marketplace-token",
    ):
        super().__init__(port, _Handler)
        self.vendor_id = vendor_id
        self.email, self.token = email, token
        self.credentials = base64.b64encode(f"{email}:{token}".encode()).decode()
        self.licenses: list[dict] = []
        self.requests: list[dict] = []
        # Answers to give before any page, one per request: a JSON value, or bytes sent as they are (a proxy's page).
        self.crafted: list = []
        self.page_seconds = 0.0  # how long each page takes to answer (Atlassian's reporting API takes seconds)

    def worker_env(self) -> dict[str, str]:
        """The settings that point a worker process (its environment) at this stand-in."""
        return {
            "MARKETPLACE_API_URL": self.base_url,
            "MARKETPLACE_VENDOR_ID": self.vendor_id,
            "MARKETPLACE_ACCOUNT_EMAIL": self.email,
            "MARKETPLACE_API_TOKEN": self.token,
        }


def license_record(
    n: int, *, status: str = "active", technical: str | None = None, billing: str | None = None, host: str | None = None
) -> dict:
    return {
        "addonLicenseId": str(40_000_000 + n),
        "appEntitlementId": f"ent-{n:06d}",
        "appEntitlementNumber": f"E-{n:06d}",
        "licenseId": f"SEN-{n}",
        "addonKey": "io.herochecklist",
        "hosting": "Cloud",
        "lastUpdated": "2026-11-28",
        "licenseType": "COMMERCIAL",
        "status": status,
        "cloudSiteHostname": host or f"site{n}.atlassian.net",
        "contactDetails": {
            "company": f"Company {n}",
            "technicalContact": {
                "email": technical or f"tech{n}@company{n}.example",
                "name": f"Tech Person{n}",
                "phone": "+1 555 0100",
            },
            "billingContact": {"email": billing or f"billing{n}@company{n}.example", "name": f"Billing Person{n}"},
        },
    }


class _Handler(JSONHandler):
    server: MarketplaceStandIn

    def do_GET(self):
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query))
        self.server.requests.append({"path": parts.path, **params})
        if self.headers.get("Authorization") != f"Basic {self.server.credentials}":
            return self._json(401, {"message": "unauthorized"})
        if parts.path != f"/rest/2/vendors/{self.server.vendor_id}/reporting/licenses":
            return self._json(404, {"message": "not found"})
        if self.server.crafted:
            answer = self.server.crafted.pop(0)
            if isinstance(answer, bytes):
                return self._send(200, answer, content_type="text/html")
            return self._json(200, answer)
        if self.server.page_seconds:
            time.sleep(self.server.page_seconds)
        offset, limit = int(params.get("offset", 0)), min(int(params.get("limit", 50)), 50)
        rows = self.server.licenses
        if params.get("lastUpdated"):
            rows = [r for r in rows if r.get("lastUpdated", "") >= params["lastUpdated"]]
        page = rows[offset : offset + limit]
        links = {"self": {"href": self.path}}
        if offset + limit < len(rows):
            links["next"] = {"href": f"{parts.path}?offset={offset + limit}&limit={limit}"}
        self._json(200, {"licenses": page, "_links": links})
