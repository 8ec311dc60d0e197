"""What an upstream's odd answers do to us: a Retry-After is text, and float() reads "nan", "inf" and "-1" too."""

import pytest

from contacts import hubspot
from contacts.hubspot import HubSpotError
from tenants import jira
from tenants.jira import JiraClient

pytestmark = pytest.mark.django_db


class RecordedSleeps:
    """time as the client sees it, with the real sleep's refusals (negative, NaN), sleeping for no one."""

    def __init__(self):
        self.slept = []

    def time(self):
        import time

        return time.time()

    def sleep(self, seconds: float) -> None:
        if not seconds >= 0:  # what time.sleep raises on: ValueError (negative, NaN)
            raise ValueError("sleep length must be non-negative")
        self.slept.append(seconds)


@pytest.mark.parametrize("retry_after", ["-1", "nan", "inf", "-inf", "1e999", "soon"])
def test_an_odd_retry_after_from_jira_is_a_bounded_wait_not_a_crash(tenant, standin, monkeypatch, retry_after):
    waits = RecordedSleeps()
    monkeypatch.setattr(jira, "time", waits)
    standin.retry_after = retry_after
    standin.fail_next = [429]
    JiraClient(tenant, backoff=0.01).set_issue_property("10001", "p", {"n": 1})
    assert standin.property("10001", "p") == {"n": 1}
    assert len(waits.slept) == 1 and 0 <= waits.slept[0] <= jira.MAX_RETRY_AFTER_SECONDS, waits.slept


class _Refused(Exception):
    def __init__(self, retry_after):
        super().__init__("429")
        self.status, self.headers, self.body = 429, {"Retry-After": retry_after}, ""


@pytest.mark.parametrize("retry_after", ["-1", "nan", "inf", "1e999"])
def test_an_odd_retry_after_from_hubspot_is_no_retry_after(settings, monkeypatch, retry_after):
    """Not a crash of the push (int(inf) in the shared block), nor a block of every worker for ever."""
    blocked = []
    monkeypatch.setattr(hubspot.ratelimit, "acquire", lambda *a, **kw: "slot")
    monkeypatch.setattr(hubspot.ratelimit, "answered", lambda *a, **kw: None)
    monkeypatch.setattr(hubspot.ratelimit, "penalise", lambda name, *, seconds: blocked.append(seconds))

    def call():
        raise _Refused(retry_after)

    with pytest.raises(HubSpotError) as caught:
        hubspot._limited(call)
    assert caught.value.retry_after is None
    assert blocked == [settings.HUBSPOT_RATE_WINDOW_SECONDS]
