"""core/outbound.py: every outbound exchange ends by its deadline, however steadily the other side trickles."""

import httpx
import pytest

from core import outbound
from tests.conftest import answer_at_once


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_server_trickling_its_answer_is_a_timeout_at_the_deadline(trickle, phase):
    trickle.phase = phase
    with pytest.raises(httpx.TimeoutException):
        outbound.request("GET", f"{trickle.base_url}/slow", within=0.3)
    # We hung up: the server, a byte every 20 ms and never idle as long as the 10 s read timeout, would have gone on.
    assert trickle.ended() == ["client"]


def test_a_deadline_spans_every_exchange_of_its_block(trickle):
    # Nested: the earlier deadline wins, so a caller bounding several calls is not outlived by one of them.
    with outbound.deadline(0.3), pytest.raises(httpx.TimeoutException):
        outbound.request("GET", trickle.base_url, within=60)
    assert trickle.ended() == ["client"]


def test_an_answer_in_time_is_read_whole(trickle, settings):
    answer_at_once(trickle, settings, b'{"ok": true}')
    response = outbound.request("GET", trickle.base_url, within=5)
    assert response.status_code == 200 and response.json() == {"ok": True}
