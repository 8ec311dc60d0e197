import re

import pytest

from checklists.rendering import render_markdown

ATTACKS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "![x](javascript:alert(1))",
    '<a href="https://x" onclick="alert(1)">x</a>',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_stored_xss_renders_inert(text):
    html = render_markdown(text).lower()
    assert "<script" not in html and "<img" not in html
    assert not re.search(r"<[^>]*\son\w+\s*=", html), html  # no event handler inside any real tag
    assert 'href="javascript' not in html and 'href="data' not in html


def test_markdown_is_rendered_with_safe_links():
    html = render_markdown("**ship** it, see [runbook](https://wiki.example.com/run) and `make deploy`")
    assert "<strong>ship</strong>" in html
    assert '<a href="https://wiki.example.com/run"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<code>make deploy</code>" in html


@pytest.mark.django_db
def test_the_api_returns_text_verbatim_and_html_escaped(api):
    item = api.add("<img src=x onerror=alert(1)>").json()
    assert item["text"] == "<img src=x onerror=alert(1)>"
    assert item["textHtml"] == "&lt;img src=x onerror=alert(1)&gt;"
