"""
bench/panel: the panel's bytes over the wire and its time to first render, in headless Chromium, inside the
simulated Jira issue page, served by the app in production mode (gunicorn, gzip, fingerprinted static files).

Prints medians over N cold loads (a new browser context each, so nothing is cached), and the ratio of the panel's
own JS+CSS to its 40 KB budget.
"""

import argparse
import statistics

from bench.stack import Stack
from devhost.browser import launch

BUDGET_BYTES = 40 * 1024
MEASURE = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const own = res.filter(r => r.name.startsWith(location.origin));
  const sum = (list) => list.reduce((n, r) => n + (r.transferSize || 0), 0);
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return {
    html: nav.transferSize,
    assets: sum(own.filter(r => /\\.(js|css)$/.test(new URL(r.name).pathname))),
    api: sum(own.filter(r => new URL(r.name).pathname.startsWith('/api/'))),
    apiCalls: own.filter(r => new URL(r.name).pathname.startsWith('/api/')).length,
    rendered: performance.getEntriesByName('herochecklist-rendered')[0].startTime,
    fcp: fcp ? fcp.startTime : null,
  };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    stack = Stack(workers=2).start()
    try:
        issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
        token = stack.jira.context_token(issue)
        import httpx

        text = "".join(
            f"- [{'x' if n % 3 == 0 else ' '}] Checklist item number {n} with **some** text\n"
            for n in range(args.items)
        )
        response = httpx.put(
            f"{stack.url}/api/v1/issues/10001/checklist/text",
            content=text.encode(),
            headers={"Authorization": f"JWT {token}", "Content-Type": "text/plain"},
        )
        response.raise_for_status()
        samples = []
        with sync_playwright() as p:
            browser = launch(p)
            for _ in range(args.loads):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{stack.jira.base_url}/browse/DEMO-1")
                page.frame_locator("#herochecklist-panel").locator(".hc-item").nth(args.items - 1).wait_for()
                frame = next(f for f in page.frames if f.url.startswith(stack.url))
                frame.wait_for_function("performance.getEntriesByName('herochecklist-rendered').length > 0")
                samples.append(frame.evaluate(MEASURE))
                context.close()
            browser.close()
    finally:
        stack.stop()

    def median(key):
        values = [s[key] for s in samples if s[key] is not None]
        return statistics.median(values) if values else float("nan")

    assets = median("assets")
    print(f"bench/panel: {args.loads} cold loads of a {args.items}-item checklist (production mode, gzip)")
    print(f"  panel HTML            {median('html'):8.0f} B over the wire")
    print(f"  panel JS + CSS        {assets:8.0f} B over the wire  ({assets / BUDGET_BYTES:.2f} of the 40 KB budget)")
    print(f"  API responses         {median('api'):8.0f} B in {median('apiCalls'):.0f} call(s) to render")
    print(f"  first contentful paint{median('fcp'):8.1f} ms after the panel's navigation start")
    print(f"  checklist rendered    {median('rendered'):8.1f} ms after the panel's navigation start")


if __name__ == "__main__":
    main()
