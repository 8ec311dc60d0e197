"""Attacks on /api/v1 from outside: what a refused or odd request answers, and what it must not do."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("head", "", None),
        ("get", "/text", None),
        ("get", "/history", None),
        ("post", "/items", {"text": "elsewhere"}),
        ("put", "/order", {"itemIds": []}),
    ],
)
def test_another_issue_than_the_credentials_is_a_forbidden_like_every_refusal(api, method, suffix, body):
    """A credential bound to one issue, on another issue: 403 with the API's one refusal code, `forbidden` (README,
    the automation door's answer to the same refusal), not a generic `error`."""
    kwargs = {"data": body, "content_type": "application/json"} if body is not None else {}
    response = getattr(api.client, method)(
        api.url(suffix, issue_id="10002"), HTTP_AUTHORIZATION=api.authorization, **kwargs
    )
    assert response.status_code == 403
    if method != "head":
        assert response.json()["error"] == "forbidden"


def test_a_text_of_many_short_lines_is_refused_once_past_the_item_limit_not_read_to_the_end(api, monkeypatch):
    """1 MiB of one-letter lines is half a million items: the answer (422 naming `text`) is known at item 501, and
    checking every other line cost about 1.5 s of CPU per request (20 times a full checklist of long items)."""
    from checklists import textformat
    from checklists.models import MAX_ITEMS

    checked = []
    real = textformat.clean_item_text
    monkeypatch.setattr(textformat, "clean_item_text", lambda value, *a: checked.append(value) or real(value, *a))
    body = "a\n" * (1024 * 1024 // 2 - 1)
    response = api.put_text(body)
    assert response.status_code == 422 and "text" in response.json()["fields"], response.content[:300]
    assert len(checked) <= MAX_ITEMS + 1
