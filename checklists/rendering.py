"""Item text is Markdown, rendered to HTML that is safe to insert: no raw HTML, no scripts, only safe links."""

import sys
import threading
from collections import OrderedDict

import nh3
from django.conf import settings
from markdown_it import MarkdownIt

# commonmark with raw HTML off: "<img onerror=...>" stays text. Only inline markup makes sense in one item.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")

ALLOWED_TAGS = {"a", "strong", "em", "code", "s", "del", "br"}


class _RenderCache:
    """Least recently used, bounded by the memory its strings take (sys.getsizeof: what they really hold) as well as
    by entry count: 20,000 entries of 2,000-character text could otherwise hold hundreds of megabytes per process."""

    def __init__(self):
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def cost(text: str, html: str) -> int:
        return sys.getsizeof(text) + sys.getsizeof(html)

    def get(self, text: str) -> str | None:
        with self._lock:
            html = self._entries.get(text)
            if html is not None:
                self._entries.move_to_end(text)
            return html

    def put(self, text: str, html: str) -> None:
        cost = self.cost(text, html)
        max_bytes, max_entries = settings.MARKDOWN_CACHE_MAX_BYTES, settings.MARKDOWN_CACHE_MAX_ENTRIES
        if cost > max_bytes:
            return  # would push everything else out for one entry
        with self._lock:
            if text in self._entries:
                return
            self._entries[text] = html
            self._bytes += cost
            while self._bytes > max_bytes or len(self._entries) > max_entries:
                old_text, old_html = self._entries.popitem(last=False)
                self._bytes -= self.cost(old_text, old_html)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def stats(self) -> tuple[int, int]:
        """(entries, bytes) held now."""
        with self._lock:
            return len(self._entries), self._bytes


cache = _RenderCache()


def render_markdown(text: str) -> str:
    html = cache.get(text)
    if html is None:
        html = _render(text)
        cache.put(text, html)
    return html


def _render(text: str) -> str:
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
