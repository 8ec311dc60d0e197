"""Red team: a query string of more parameters than Django parses (DATA_UPLOAD_MAX_NUMBER_FIELDS). Django refuses one
only when something reads request.GET: inside an API view (a route with a query parameter) that raised into the API's
handlers as a bug, a 500 and an error report per call, for any user of any site; on the Connect doors, whose
credential may sit in the query, it was Django's HTML page. Bad input is a JSON 400 naming what was wrong."""

import pytest

from tests.conftest import ISSUE, Api

pytestmark = pytest.mark.django_db

LIMIT = 20
REFUSED = {"error": "validation_failed", "fields": {"query": f"must have at most {LIMIT} parameters"}}


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = LIMIT


def query(fields: int) -> str:
    return "&".join(f"p{n}=1" for n in range(fields))


API_READS = [
    f"/api/v1/issues/{ISSUE['id']}/checklist/history",
    f"/api/v1/issues/{ISSUE['id']}/checklist/text",
    "/api/v1/templates",
    "/api/v1/manager",
]


@pytest.mark.parametrize("path", API_READS)
def test_an_api_read_with_too_many_query_parameters_is_a_400_naming_the_query(client, tenant, path):
    api = Api(client, tenant)
    client.raise_request_exception = False

    response = client.get(f"{path}?{query(LIMIT + 1)}", HTTP_AUTHORIZATION=api.authorization)

    assert response.status_code == 400, response.content[:300]
    assert response.json() == REFUSED


@pytest.mark.parametrize("path", API_READS)
def test_as_many_query_parameters_as_the_limit_still_pass(client, tenant, standin, path):
    api = Api(client, tenant)
    client.raise_request_exception = False

    response = client.get(f"{path}?{query(LIMIT)}", HTTP_AUTHORIZATION=api.authorization)

    assert response.status_code == 200, response.content[:300]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/connect/panel"),
        ("get", "/connect/portal"),
        ("get", "/connect/templates"),
        ("post", "/connect/installed"),
        ("post", "/connect/enabled"),
        ("post", "/connect/webhooks/issue-deleted"),
    ],
)
def test_a_connect_door_answers_json_not_an_html_page(client, db, method, path):
    client.raise_request_exception = False

    response = getattr(client, method)(f"{path}?jwt=x.y.z&{query(LIMIT)}")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == REFUSED
