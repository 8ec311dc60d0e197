"""Our canonicalizer against the reference sheet's worked examples and the independent atlassian-jwt package."""

from urllib.parse import quote, urlencode

import pytest
from atlassian_jwt.url_utils import canonicalize_request, hash_url
from hypothesis import given, settings
from hypothesis import strategies as st

from tenants.qsh import canonical_request, query_string_hash, query_string_hash_for_url

WORKED = [
    (
        "GET",
        "/path/to/service?zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202",
        "",
        "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param",
        "e52bb281606c3bd9ca16cfe96fe2df78f5d9ffa126f06befd750dfa10fa1a897",
    ),
    (
        "GET",
        "https://checklist.example.com/app/panel?projectKey=PROJ&issueKey=PROJ-1&lic=active&jwt=xyz",
        "/app",
        "GET&/panel&issueKey=PROJ-1&lic=active&projectKey=PROJ",
        "e30ea38a92f1424e7ea842c3d72d634fae258b62dc97bafd60eac46987823c5d",
    ),
    (
        "GET",
        "/rest/api/3/issue/PROJ-1?fields=summary,project&expand=names",
        "",
        "GET&/rest/api/3/issue/PROJ-1&expand=names&fields=summary%2Cproject",
        "608d836514d6e0992fe9eab521d56cae7982e08570e4c399cdfb23bbb4a6421a",
    ),
    (
        "PUT",
        "/rest/api/3/issue/10001/properties/com.example.checklist",
        "",
        "PUT&/rest/api/3/issue/10001/properties/com.example.checklist&",
        "35f29d3f3ed217dfc9ff7483c5361b41b1127e43dca2aa6abd4fbd582bab1ece",
    ),
    ("POST", "/installed", "", "POST&/installed&", "4a2e1de8ca74e6cafe8862d332fa3ac7a8e51e692bc6d798ea4dfedc14948bf4"),
]


@pytest.mark.parametrize(("method", "url", "base_path", "canonical", "qsh"), WORKED)
def test_worked_examples_from_the_reference_sheet(method, url, base_path, canonical, qsh):
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    assert canonical_request(method, parts.path, params, base_path) == canonical
    assert query_string_hash_for_url(method, url, base_path) == qsh


def test_upper_and_lower_case_names_sort_by_code_point():
    params = [("a", "1"), ("A", "2"), ("b", "3"), ("B", "4")]
    assert canonical_request("GET", "/", params) == "GET&/&A=2&B=4&a=1&b=3"
    assert query_string_hash("GET", "/", params) == hash_url("GET", "/?a=1&A=2&b=3&B=4")


def test_an_ampersand_in_the_path_cannot_collide_with_the_query():
    assert canonical_request("GET", "/a&b=c", [("x", "y")]) != canonical_request("GET", "/a", [("b", "c"), ("x", "y")])


# Characters a real request may carry in names and values once decoded (Django hands us decoded values).
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
SEGMENT = st.text(alphabet="abcXYZ019-._~", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "post", "PUT", "delete", "PATCH"]),
    segments=st.lists(SEGMENT, max_size=4),
    trailing=st.booleans(),
    params=st.lists(st.tuples(TEXT, TEXT), max_size=6),
)
def test_matches_atlassian_jwt_on_random_requests(method, segments, trailing, params):
    params = [(k, v) for k, v in params if k]  # a nameless parameter is not something a URL can carry
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    url = path + ("?" + urlencode(params, quote_via=quote) if params else "")
    assert canonical_request(method, path, params) == canonicalize_request(method, url)
    assert query_string_hash(method, path, params) == hash_url(method, url)
