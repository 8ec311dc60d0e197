"""The panel's own JS and CSS stay within the issue's budget: under 40 KB gzipped, as the browser fetches them (each
file on its own, compressed by the server; bench/panel measures the same over the wire)."""

import gzip
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "static" / "herochecklist"
BUDGET_BYTES = 40 * 1024


IMPORTS = re.compile(r'^import\s[^;]*?from\s+"\./([\w-]+\.js)"', re.MULTILINE)


def _panel_modules() -> set[str]:
    """Every module the Connect panel loads: connect.js and what it imports, transitively (the template manager's
    page, manager.js, is another page with its own load)."""
    wanted, queue = set(), ["connect.js"]
    while queue:
        for name in IMPORTS.findall((STATIC / queue.pop()).read_text()):
            if name not in wanted:
                wanted.add(name)
                queue.append(name)
    return wanted


def test_own_js_and_css_are_under_40_kb_gzipped():
    names = {"connect.js", "panel.css", *_panel_modules()}
    assert {"panel.js", "statuses.js", "menu.js", "people.js", "live.js"} <= names
    gzipped = sum(len(gzip.compress((STATIC / name).read_bytes(), compresslevel=9)) for name in sorted(names))
    assert gzipped < BUDGET_BYTES, f"{gzipped} B gzipped"


def test_the_connect_page_preloads_every_module_the_panel_imports():
    """No module waits for the one importing it to arrive: one round trip for all of them before the first render."""
    wanted = _panel_modules()
    page = (STATIC.parents[1] / "templates" / "checklists" / "panel.html").read_text()
    preloaded = set(re.findall(r"rel=\"modulepreload\" href=\"\{% static 'herochecklist/([\w-]+\.js)' %\}\"", page))
    assert {"panel.js", "statuses.js", "menu.js"} <= wanted
    assert wanted <= preloaded, sorted(wanted - preloaded)
