"""Attack suite, input rules (issue #16): one rule set (checklists/validation.py) for every path that writes
customer text (JSON API, text format, templates, CSV import, restore), and identifiers that match exactly."""

import csv
import io
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checklists import archived, services, textformat, validation
from checklists.models import MAX_ITEMS, ChecklistItem, Template
from contacts.csvimport import records_from_csv
from core.exceptions import ValidationFailed
from operations import backup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _the_caller_is_a_jira_admin(standin):
    """Template paths are among those checked: their writes need a Jira admin (tests/tenants/test_permissions.py)."""
    standin.grant("557058:alice", "admin")


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
NASTY = ["\x00", "\x07", "\x1b", "\x1f", "\x7f", "\x9f", "\ud800", "\udfff", "\t", " ", "{", "}", "#", "@", "\u00e9"]
# One line of garbage: ordinary characters, control characters, lone surrogates, and lengths around the limits.
CHARS = st.one_of(st.characters(codec="utf-8", exclude_characters=LINE_BREAKS), st.sampled_from(NASTY))
GARBAGE = st.one_of(
    st.text(CHARS, max_size=30),
    st.builds(
        lambda n, tail: "x" * n + tail,
        st.sampled_from([199, 200, 201, 1999, 2000, 2001, 4000]),
        st.sampled_from(["", "y", "\x00", "\ud800"]),
    ),
)


def verdict(rule, value) -> bool:
    try:
        rule(value)
    except ValidationFailed:
        return False
    return True


def text_body(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # a lone surrogate goes out as the bytes a client would send


def put_text(api, text: str):
    return api.call("put", api.url("/text"), text_body(text), content_type="text/plain", raw=True)


# --- the same garbage through every path ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=GARBAGE)
def test_every_path_agrees_with_the_one_rule_set(api, value):
    ok = verdict(validation.clean_item_text, value)

    # JSON API: create
    created = api.add(value)
    assert created.status_code == (201 if ok else 422), (value, created.content)

    # Text format: as an item line (escaped as the format needs) and as a header line
    line = textformat.serialize_entry(textformat.Entry(text=value))
    as_item = put_text(api, line + "\n")
    assert as_item.status_code < 500 and (as_item.status_code == 200) == ok, (value, as_item.content)
    as_header = put_text(api, f"## {value}\n")
    assert as_header.status_code < 500 and (as_header.status_code == 200) == ok, (value, as_header.content)

    # Templates: the name under the same rules (its own length), template items like checklist items
    name_ok = verdict(validation.clean_template_name, value)
    named = api.call("post", "/api/v1/templates", {"name": value, "text": "- [ ] step\n"})
    assert named.status_code == (201 if name_ok else 422), (value, named.content)
    with_item = api.call("post", "/api/v1/templates", {"name": "t", "text": line + "\n"})
    assert with_item.status_code == (201 if ok else 422), (value, with_item.content)
    Template.objects.all().delete()

    # CSV import: a free-text column under the same character rules (and the column's own length)
    csv_ok = verdict(lambda v: validation.clean_csv_field(v, "name", max_length=200), value)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["addonLicenseId", "status", "technicalContactName"])
    writer.writerow(["L-1", "active", value])
    try:
        records_from_csv(text_body(out.getvalue()))
        imported = True
    except ValidationFailed:
        imported = False
    assert imported == csv_ok, value

    # Restore reads archived rows with the same function (see test_restore_refuses_text_the_api_would_refuse)
    archived_ok = verdict(
        lambda v: archived.check_archived_record("checklists.checklistitem", {"text": v, "assignee_account_id": ""}),
        value,
    )
    assert archived_ok == ok


# --- the cases named in the issue --------------------------------------------------------------------------------


def test_a_huge_header_is_refused_in_text_mode(api):
    response = api.put_text("## " + "h" * 200_000 + "\n- [ ] item\n")
    assert response.status_code == 422
    assert "line 1" in response.json()["fields"]
    assert not ChecklistItem.objects.exists()


def test_a_header_over_the_item_limit_is_refused_in_text_mode(api):
    assert api.put_text("## " + "h" * 2001 + "\n").status_code == 422
    assert api.put_text("## " + "h" * 2000 + "\n").status_code == 200


@pytest.mark.parametrize("text", ["bad \ud800 surrogate", "\udfff", "ok\ud83d"])
def test_a_lone_surrogate_is_422_not_500(api, text):
    response = api.add(text)
    assert response.status_code == 422
    assert "text" in response.json()["fields"]
    template = api.call("post", "/api/v1/templates", {"name": text, "text": "- [ ] a\n"})
    assert template.status_code == 422 and "name" in template.json()["fields"]
    assert not ChecklistItem.objects.exists() and not Template.objects.exists()


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x9b"])
def test_control_characters_are_refused_in_text_mode_too(api, char):
    response = api.put_text(f"- [ ] bell{char}ring\n")
    assert response.status_code == 422
    assert "control" in response.json()["fields"]["line 1"]
    assert api.put_text(f"## head{char}er\n").status_code == 422


def test_a_long_assignee_is_refused_in_text_mode(api):
    response = api.put_text("- [ ] item {@" + "a" * 1500 + "}\n")
    assert response.status_code == 422
    assert "accountId" in response.json()["fields"]["line 1"]
    assert api.put_text("- [ ] item {@" + "a" * 128 + "}\n").status_code == 200
    assert api.add("x", assigneeAccountId="a" * 129).status_code == 422


def test_a_template_with_a_bad_item_or_name_is_refused(api):
    assert api.call("post", "/api/v1/templates", {"name": "ok", "text": "## " + "h" * 3000}).status_code == 422
    assert api.call("post", "/api/v1/templates", {"name": "bell\x07", "text": "- [ ] a"}).status_code == 422
    assert api.call("post", "/api/v1/templates", {"name": "two\nlines", "text": "- [ ] a"}).status_code == 422
    assert not Template.objects.exists()


def test_a_long_line_of_spaces_is_refused_quickly(api):
    # The old attribute pattern backtracked over every space (quadratic time); the group is now found from its brace.
    started = time.monotonic()
    response = api.put_text("- [ ] a" + " " * 150_000 + "b}\n")
    assert response.status_code == 422
    assert time.monotonic() - started < 5  # quadratic backtracking over 150,000 spaces would take minutes


@pytest.mark.parametrize(
    "cell, why",
    [("bell\x07", "control"), ("x" * 201, "at most 200"), ("two\nlines", "single line")],
)
def test_csv_import_applies_the_rules_per_cell(cell, why):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["addonLicenseId", "status", "technicalContactName"])
    writer.writerow(["L-1", "active", "fine"])
    writer.writerow(["L-2", "active", cell])
    with pytest.raises(ValidationFailed) as caught:
        records_from_csv(out.getvalue().encode())
    assert why in caught.value.errors["row 3, technicalContactName"]


def test_csv_import_with_a_nul_byte_is_a_clear_error():
    with pytest.raises(ValidationFailed) as caught:
        records_from_csv(b"addonLicenseId,status\nL-1,act\x00ive\n")
    assert "control" in caught.value.errors["row 2, status"]


# --- identifiers match exactly ----------------------------------------------------------------------------------


@pytest.mark.parametrize("issue_id", ["10001\n", "\u0661\u0660\u0660\u0660\u0661", "1\u00b2", "10001 ", "+10001"])
def test_issue_ids_are_ascii_digits_only(api, client, issue_id):
    from urllib.parse import quote

    response = client.get(f"/api/v1/issues/{quote(issue_id)}/checklist", HTTP_AUTHORIZATION=api.authorization)
    assert response.status_code == 404
    assert not validation.is_jira_id(issue_id)


@pytest.mark.parametrize("value", ["10000\n", "\u0661\u0660", "\uff11"])
def test_template_project_ids_are_ascii_digits_only(api, value):
    response = api.call("post", "/api/v1/templates", {"name": "t", "text": "- [ ] a", "projectId": value})
    assert response.status_code == 422 and "projectId" in response.json()["fields"]


@pytest.mark.parametrize("version", ["\u0661", "1\n", "\u00b2"])
def test_if_match_is_ascii_digits_only(api, version):
    response = api.client.post(
        api.url("/items"),
        data='{"text": "a"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=api.authorization,
        HTTP_IF_MATCH=f'"{version}"',
    )
    assert response.status_code == 400
    assert not ChecklistItem.objects.exists()


def test_due_dates_in_other_scripts_are_refused_in_text_mode(api):
    # int() reads Arabic-Indic digits; the attribute pattern must not hand them to it.
    response = api.put_text("- [ ] item {due:\u0662\u0660\u0662\u0666-01-01}\n")
    assert response.status_code == 200
    assert api.get().json()["items"][0]["dueDate"] is None


def test_csv_import_with_a_cell_over_the_csv_field_limit_is_a_clear_error():
    with pytest.raises(ValidationFailed) as caught:
        records_from_csv(b"addonLicenseId,status\nL-1," + b"x" * 200_000 + b"\n")
    assert "not readable as CSV" in caught.value.errors["file"]


# --- restore ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "model, field, bad",
    [
        (ChecklistItem, "text", "ring the bell\x07"),
        (ChecklistItem, "text", "x" * 2001),
        (ChecklistItem, "assignee_account_id", "a" * 1500),
        (Template, "name", "two\nlines"),
        (Template, "text", "## " + "h" * 3000),
    ],
)
def test_restore_refuses_text_the_api_would_refuse(tenant, backup_dir, model, field, bad):
    from tests.conftest import issue_ref

    actor = services.Actor("557058:alice")
    services.checklist_replace_text(tenant=tenant, issue=issue_ref(), actor=actor, text="- [ ] fine\n")
    services.template_create(tenant=tenant, actor=actor, data={"name": "T", "text": "- [ ] step"})
    model.objects.update(**{field: bad})  # as an older release, or a hand-edited database, might have stored it
    name = backup.backup_create().name
    model.objects.update(**{field: "kept" if field != "text" or model is ChecklistItem else "- [ ] kept"})
    with pytest.raises(backup.ArchiveError, match="input rules"):
        backup.archive_restore(name)
    # Refused before anything was written: the database is as it was.
    assert model.objects.get().__dict__[field] in ("kept", "- [ ] kept")


def test_a_stored_template_the_rules_now_refuse_does_not_break_opening_an_issue(api, tenant):
    # Stored before the rules: a header longer than any item may be.
    Template.objects.create(tenant=tenant, name="legacy", text="## " + "h" * 3000 + "\n- [ ] a\n", auto_apply=True)
    response = api.get()
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert not ChecklistItem.objects.exists()


@pytest.mark.parametrize("text", ["\u200b", "\u200b\u200d \ufeff", "abc\u202edcba", "a\u2066b"])
def test_invisible_text_and_bidirectional_overrides_are_refused_on_every_path(api, text):
    assert api.add(text).status_code == 422
    assert api.put_text(f"- [ ] {text}\n").status_code == 422
    template = api.call("post", "/api/v1/templates", {"name": text, "text": "- [ ] ok"})
    assert template.status_code == 422, template.content
    assert "name" in template.json()["fields"]
    assert api.get().json()["items"] == []


def test_a_byte_order_mark_before_the_text_is_not_part_of_the_first_line(api):
    assert api.put_text("\ufeff- [ ] bom first\n- [x] second\n").status_code == 200
    items = api.get().json()["items"]
    assert [(i["text"], i["status"]) for i in items] == [("bom first", "todo"), ("second", "done")]


def test_a_bad_import_names_50_lines_and_counts_them_all(api):
    bad = "".join(f"- [?] line {n}\n" for n in range(400))
    for response in (api.put_text(bad), api.call("post", "/api/v1/templates", {"name": "Bad", "text": bad})):
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "validation_failed" and body["errorCount"] == 400
        assert len(body["fields"]) == 50 and len(response.content) < 10_000
    assert list(api.put_text(bad).json()["fields"])[:2] == ["line 1", "line 2"]  # the first ones, in order
    assert not ChecklistItem.objects.exists() and not Template.objects.exists()


def test_a_10000_line_bad_import_is_read_to_the_item_limit_and_says_so_first(api):
    # Past MAX_ITEMS lines the text is refused whatever follows (textformat.parse): the lines up to the limit are
    # named and counted, and the limit itself comes first, so the capped answer cannot leave it out.
    bad = "".join(f"- [?] line {n}\n" for n in range(10_000))
    template = api.call("post", "/api/v1/templates", {"name": "Bad", "text": bad})
    for response, names in ((api.put_text(bad), ["text", "line 1"]), (template, ["text (text)", "text (line 1)"])):
        assert response.status_code == 422
        body = response.json()
        assert body["errorCount"] == MAX_ITEMS + 1 and len(body["fields"]) == 50
        assert list(body["fields"])[:2] == names
        assert body["fields"][names[0]] == f"cannot hold more than {MAX_ITEMS} items (a checklist's limit)"
    assert not ChecklistItem.objects.exists() and not Template.objects.exists()


def test_a_schema_refusal_of_many_fields_is_capped_too(api):
    response = api.call("post", api.url("/items"), {"text": "x", **{f"extra{n}": 1 for n in range(300)}})
    assert response.status_code == 422
    assert len(response.json()["fields"]) == 50 and response.json()["errorCount"] == 300


def test_fifty_bad_fields_are_all_named_without_a_count():
    body = ValidationFailed({f"line {n}": "bad" for n in range(50)}).body()
    assert len(body["fields"]) == 50 and "errorCount" not in body
    capped = ValidationFailed({f"line {n}": "bad" for n in range(51)}).body("invalid_payload", {"line 0": "first"})
    assert capped["error"] == "invalid_payload" and capped["errorCount"] == 51
    assert list(capped["fields"])[0] == "first" and "line 50" not in capped["fields"]


def test_a_body_of_the_wrong_shape_names_each_field_with_a_predicate(api):
    """The schema's own refusals read as the rest do ("text": "must be ..."): the panel says "Text must be a valid
    string", where pydantic's "Input should be a valid string" made "Text Input should be ..."."""
    cases = [
        (api.call("post", api.url("/items"), {"text": None}), "text", "must be a valid string"),
        (
            api.call("post", api.url("/items"), {"text": "x", "mandatory": "yes"}),
            "mandatory",
            "must be a valid boolean",
        ),
        (
            api.call("post", api.url("/items"), []),
            "body",
            "must be a valid dictionary or object to extract fields from",
        ),
        (api.call("get", api.url("/history?limit=abc")), "limit", "must be a valid integer"),
    ]
    for response, field, predicate in cases:
        assert response.status_code == 422, response.content
        assert response.json()["fields"][field].startswith(predicate), response.json()
    assert not ChecklistItem.objects.exists()
