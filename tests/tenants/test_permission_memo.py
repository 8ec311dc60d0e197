"""Jira's answers held in process once read from the shared cache (tenants/permissions.py): no Redis round trip per
read for an answer already held, and the same 5-minute age rule as the shared entry."""

import pytest
from django.core.cache import cache

from tests.conftest import Api

pytestmark = pytest.mark.django_db

EDITOR = "557058:bob"


def test_an_answer_is_reused_in_process_only_while_its_age_allows(client, tenant, standin, settings, test_redis_url):
    settings.CACHE_URL = test_redis_url  # a shared cache in production; the entries themselves stay in CACHES
    settings.PERMISSION_CACHE_SECONDS = 300
    standin.default_role = "none"
    standin.grant(EDITOR, "edit")
    bob = Api(client, tenant, account_id=EDITOR)
    assert bob.add("one").status_code == 201
    cache.clear()  # the shared entry is gone (evicted): this process still holds the answer
    standin.grant(EDITOR, "browse")
    assert bob.add("two").status_code == 201
    assert len(standin.permission_checks) == 1
    settings.PERMISSION_CACHE_SECONDS = 0  # the held answer's age now exceeds the setting: Jira is asked again
    assert bob.add("three").status_code == 403
    assert len(standin.permission_checks) == 2
