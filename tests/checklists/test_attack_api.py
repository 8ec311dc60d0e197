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
