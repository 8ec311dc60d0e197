"""The Atlassian Marketplace reporting API: our app's licenses, paged, updated since a date."""

import httpx
from django.conf import settings

from core import jsonbody, outbound


class MarketplaceError(Exception):
    pass


def iter_licenses(*, last_updated: str | None):
    """Yield license records page by page (following `_links.next` when the API gives it)."""
    base = settings.MARKETPLACE_API_URL.rstrip("/")
    url = f"{base}/rest/2/vendors/{settings.MARKETPLACE_VENDOR_ID}/reporting/licenses"
    params = {"limit": settings.MARKETPLACE_PAGE_SIZE, "offset": 0}
    if last_updated:
        params["lastUpdated"] = last_updated
    auth = (settings.MARKETPLACE_ACCOUNT_EMAIL, settings.MARKETPLACE_API_TOKEN)
    for _page in range(10_000):  # a hard stop, should the API ever page forever
        try:
            # Each page within OUTBOUND_DEADLINE_SECONDS: a server trickling its answer is a timeout (the task's
            # retry), not a worker held for as long as it keeps sending.
            response = outbound.request("GET", url, params=params, auth=auth)
        except httpx.HTTPError as exc:
            raise MarketplaceError(f"Marketplace unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise MarketplaceError(f"Marketplace answered {response.status_code}")
        licenses, next_link = _read_page(response)
        yield from licenses
        if len(licenses) < params["limit"] and not next_link:
            return
        params = {**params, "offset": params["offset"] + len(licenses)}
        if not licenses:
            return
    raise MarketplaceError("Marketplace paging did not end")


def _read_page(response: httpx.Response) -> tuple[list, bool]:
    """A page's licenses and whether it links a next one. An answer of another shape (not JSON, no list of licenses:
    a proxy's page, an error sent with a 200) is an error, never an empty page: read as "nothing changed", it ended
    the poll as a success and moved the cursor past licenses that were never read."""
    try:
        body = jsonbody.loads(response.content)  # the one parser of JSON from outside: nesting thousands deep included
    except jsonbody.BadJson:
        raise MarketplaceError("Marketplace answered something that is not JSON") from None
    licenses = body.get("licenses") if isinstance(body, dict) else None
    if not isinstance(licenses, list):
        raise MarketplaceError("Marketplace answered no list of licenses")
    links = body.get("_links")
    following = links.get("next") if isinstance(links, dict) else None
    return licenses, isinstance(following, dict) and bool(following.get("href"))
