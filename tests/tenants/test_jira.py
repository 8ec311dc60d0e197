import time

import pytest

from core import crypto
from tenants import jira
from tenants.jira import JiraClient, JiraError
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_connect_calls_are_signed_with_the_exact_qsh(tenant, standin):
    JiraClient(tenant).set_issue_property("10001", "herochecklist-progress", {"done": 1, "total": 2})
    [call] = standin.recorded
    assert call.method == "PUT"
    assert call.path == "/rest/api/3/issue/10001/properties/herochecklist-progress"
    assert call.authorization_ok
    assert standin.property("10001", "herochecklist-progress") == {"done": 1, "total": 2}


def test_query_parameters_are_covered_by_the_qsh(tenant, standin):
    standin.properties[("10001", "k")] = {"v": 1}
    response = JiraClient(tenant).request("GET", "/rest/api/3/issue/10001/properties/k", query={"expand": "a,b c"})
    assert response.json()["value"] == {"v": 1}
    assert standin.recorded[-1].authorization_ok


class RecordedSleeps:
    """The time module as tenants.jira uses it, with each wait recorded instead of slept (a 429's wait is 30 s)."""

    def __init__(self):
        self.slept: list[float] = []
        self.time = time.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_429_and_5xx_are_retried_with_backoff(tenant, standin, monkeypatch):
    waits = RecordedSleeps()
    monkeypatch.setattr(jira, "time", waits)
    standin.retry_after = "2"
    standin.fail_next = [429, 503]
    JiraClient(tenant, backoff=0.01).set_issue_property("10001", "p", {"n": 1})
    assert [c.method for c in standin.recorded] == ["PUT", "PUT", "PUT"]
    assert standin.property("10001", "p") == {"n": 1}
    # Retry-After is honoured; a 5xx waits a jittered backoff (0 to 2 x 0.01 s on the second retry).
    assert len(waits.slept) == 2 and waits.slept[0] == 2, waits.slept
    assert 0 <= waits.slept[1] <= 0.02, waits.slept


@pytest.mark.parametrize("timeout", [None, 3.0])
def test_a_retry_after_longer_than_the_client_waits_ends_the_call_at_once_with_jiras_ask(
    tenant, standin, monkeypatch, timeout
):
    # Longer than MAX_RETRY_AFTER_SECONDS (a worker's call), or than a request's call may take (its timeout): the
    # client slept the cap and asked again long before the time Jira gave. Now the caller has the ask to honour.
    waits = RecordedSleeps()
    monkeypatch.setattr(jira, "time", waits)
    standin.retry_after = "120" if timeout is None else "10"
    standin.fail_next = [429, 429]
    with pytest.raises(JiraError) as caught:
        JiraClient(tenant, timeout=timeout).set_issue_property("10001", "p", {"n": 1})
    assert caught.value.retryable and caught.value.retry_after == standin.retry_after
    assert jira.retry_after_header(caught.value) == standin.retry_after
    assert waits.slept == [] and len(standin.recorded) == 1


def test_retries_are_bounded(tenant, standin):
    standin.fail_next = [500] * 10
    with pytest.raises(JiraError) as caught:
        JiraClient(tenant, backoff=0.01).set_issue_property("10001", "p", {"n": 1})
    assert caught.value.status == 500 and caught.value.retryable
    assert len(standin.recorded) == 4


def test_a_client_error_is_not_retried(tenant, standin):
    standin.fail_next = [400]
    with pytest.raises(JiraError) as caught:
        JiraClient(tenant, backoff=0.01).set_issue_property("10001", "p", {"n": 1})
    assert caught.value.status == 400 and not caught.value.retryable
    assert len(standin.recorded) == 1


def test_an_unreachable_site_is_a_clear_retryable_error(tenant, closed_port):
    Tenant.objects.filter(id=tenant.id).update(base_url=f"http://127.0.0.1:{closed_port}")
    tenant.refresh_from_db()
    with pytest.raises(JiraError) as caught:
        JiraClient(tenant, backoff=0.01).set_issue_property("10001", "p", {"n": 1})
    assert caught.value.retryable
    assert "ConnectError" in str(caught.value)


def test_a_site_trickling_its_answer_is_a_retryable_timeout_of_each_attempt(tenant, trickle, monkeypatch):
    # The property push (checklists/sync.py) calls this: a retryable JiraError is its task's retry, as for a timeout.
    monkeypatch.setattr(jira, "time", RecordedSleeps())
    Tenant.objects.filter(id=tenant.id).update(base_url=trickle.base_url)
    tenant.refresh_from_db()
    with pytest.raises(JiraError) as caught:
        JiraClient(tenant).set_issue_property("10001", "p", {"n": 1})
    assert caught.value.retryable and "timed out" in str(caught.value)
    # Each attempt ended at its deadline (OUTBOUND_DEADLINE_SECONDS), by us: the server would have trickled for 15 s.
    assert trickle.ended(jira.MAX_ATTEMPTS) == ["client"] * jira.MAX_ATTEMPTS


def test_forge_tenants_call_with_the_app_system_token(db, standin):
    token = "forge-system-token-" + "w" * 30
    standin.system_tokens.add(token)
    tenant = Tenant.objects.create(
        client_key="forge:inst-1",
        installation_id="inst-1",
        base_url="https://forge-site.atlassian.net",
        forge_api_base_url=standin.base_url,
        forge_system_token_encrypted=crypto.encrypt(token),
    )
    JiraClient(tenant).set_issue_property("10002", "herochecklist-progress", {"done": 0})
    assert standin.recorded[-1].authorization_ok
    assert standin.property("10002", "herochecklist-progress") == {"done": 0}
