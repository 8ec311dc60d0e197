"""The panel's own JS and CSS stay within the issue's budget: under 40 KB gzipped, as the browser fetches them (each
file on its own, compressed by the server; bench/panel measures the same over the wire)."""

import gzip
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "static" / "herochecklist"
BUDGET_BYTES = 40 * 1024


def test_own_js_and_css_are_under_40_kb_gzipped():
    files = sorted(p for p in STATIC.iterdir() if p.suffix in (".js", ".css"))
    assert {"panel.js", "panel.css", "statuses.js", "menu.js"} <= {p.name for p in files}
    gzipped = sum(len(gzip.compress(p.read_bytes(), compresslevel=9)) for p in files)
    assert gzipped < BUDGET_BYTES, f"{gzipped} B gzipped"


def test_the_connect_page_preloads_every_module_the_panel_imports():
    """No module waits for the one importing it to arrive: one round trip for all of them before the first render."""
    import re

    imports = re.compile(r'^import\s[^;]*?from\s+"\./([\w-]+\.js)"', re.MULTILINE)
    wanted, queue = set(), ["connect.js"]
    while queue:
        for name in imports.findall((STATIC / queue.pop()).read_text()):
            if name not in wanted:
                wanted.add(name)
                queue.append(name)
    page = (STATIC.parents[1] / "templates" / "checklists" / "panel.html").read_text()
    preloaded = set(re.findall(r"rel=\"modulepreload\" href=\"\{% static 'herochecklist/([\w-]+\.js)' %\}\"", page))
    assert {"panel.js", "statuses.js", "menu.js"} <= wanted
    assert wanted <= preloaded, sorted(wanted - preloaded)
