"""Attack suite, memory (issue #16): the Markdown render cache is bounded by the memory it holds, not only by count."""

import pytest

from checklists import rendering


@pytest.fixture(autouse=True)
def _empty_cache():
    rendering.cache.clear()
    yield
    rendering.cache.clear()


def test_the_cache_stays_under_its_byte_bound_with_large_distinct_texts(settings):
    settings.MARKDOWN_CACHE_MAX_BYTES = 128 * 1024
    settings.MARKDOWN_CACHE_MAX_ENTRIES = 20_000
    # 125 distinct texts of 2,000 characters: under the entry bound, about 500 KB of strings (text and HTML) if kept,
    # four times the byte bound.
    for n in range(125):
        rendering.render_markdown(f"{n:05d} " + "**b** é " * 249)
        assert rendering.cache.stats()[1] <= settings.MARKDOWN_CACHE_MAX_BYTES
    entries, held = rendering.cache.stats()
    assert 0 < entries < 125
    assert held > settings.MARKDOWN_CACHE_MAX_BYTES // 2  # it does cache, up to the bound


def test_least_recently_used_goes_first_and_hits_are_served_from_the_cache(settings):
    settings.MARKDOWN_CACHE_MAX_ENTRIES = 2
    first = rendering.render_markdown("first")
    rendering.render_markdown("second")
    assert rendering.render_markdown("first") is first  # a hit: the same object, not a new render
    rendering.render_markdown("third")  # evicts "second", the least recently used
    assert rendering.cache.get("second") is None
    assert rendering.cache.get("first") == first


def test_an_entry_larger_than_the_whole_bound_is_not_cached(settings):
    settings.MARKDOWN_CACHE_MAX_BYTES = 1000
    rendering.render_markdown("small")
    rendering.render_markdown("x" * 2000)
    assert rendering.cache.get("small") is not None
    assert rendering.cache.stats()[0] == 1
