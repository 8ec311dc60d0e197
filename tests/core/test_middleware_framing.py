from django.test import override_settings


@override_settings(ROOT_URLCONF="tests.frame_urls", EXTRA_FRAME_ANCESTORS=[])
def test_ordinary_pages_deny_all_framing(client):
    response = client.get("/plain")
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


@override_settings(ROOT_URLCONF="tests.frame_urls", EXTRA_FRAME_ANCESTORS=[])
def test_jira_pages_may_be_framed_by_jira_hosts_only(client):
    response = client.get("/framed")
    assert "X-Frame-Options" not in response
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors https://*.atlassian.net https://*.jira.com;" in csp + ";"
    assert "'none'" not in csp.split("frame-ancestors")[1]
    assert "script-src 'self' https://connect-cdn.atl-paas.net" in csp


@override_settings(ROOT_URLCONF="tests.frame_urls", EXTRA_FRAME_ANCESTORS=["http://127.0.0.1:8001"])
def test_the_local_stand_in_is_added_only_through_settings(client):
    assert "http://127.0.0.1:8001" in client.get("/framed")["Content-Security-Policy"]
    assert "http://127.0.0.1:8001" not in client.get("/plain")["Content-Security-Policy"]


@override_settings(ROOT_URLCONF="tests.frame_urls", EXTRA_FRAME_ANCESTORS=["http://127.0.0.1:8001"])
def test_jira_pages_may_show_jira_avatars_other_pages_only_their_own_images(client):
    framed = client.get("/framed")["Content-Security-Policy"].split("; ")
    images = set(next(d for d in framed if d.startswith("img-src ")).split()[1:])
    assert {
        "'self'",
        "data:",
        "https://*.atl-paas.net",
        "https://secure.gravatar.com",
        "http://127.0.0.1:8001",
    } <= images
    assert "img-src 'self' data:" in client.get("/plain")["Content-Security-Policy"].split("; ")
