"""Item text is Markdown, rendered to HTML that is safe to insert: no raw HTML, no scripts, only safe links."""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# commonmark with raw HTML off: "<img onerror=...>" stays text. Only inline markup makes sense in one item.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")

ALLOWED_TAGS = {"a", "strong", "em", "code", "s", "del", "br"}


@lru_cache(maxsize=20_000)
def render_markdown(text: str) -> str:
    html = _md.renderInline(text)
    # The sanitizer is the guarantee; markdown-it's own escaping is a first line only.
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
