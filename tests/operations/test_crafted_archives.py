"""Crafted archives: encrypted with this deployment's key (so every frame authenticates) but holding records no backup
of ours writes. Each is refused with ArchiveError before any write, never a traceback, never a half restore."""

import io
import json
import struct

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from checklists import services as checklist_services
from operations import backup
from tests.conftest import issue_ref
from tests.operations import test_backup
from tests.operations.test_backup import snapshot

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = checklist_services.Actor("557058:alice")


other_tenant = test_backup.other_tenant  # site B, on the stand-in too


@pytest.fixture(autouse=True)
def _backups(backup_dir):
    return backup_dir


def _state():
    return snapshot(skip=("staff.AuditEntry",))


def _craft(path, lines) -> str:
    """An archive of these plaintext lines (dicts are JSON-encoded), with an end marker counting what they name."""
    counts: dict[str, int] = {}
    with open(path, "wb") as out:
        writer = backup._Writer(out)
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("model"), str):
                counts[line["model"]] = counts.get(line["model"], 0) + 1
            writer.write((line if isinstance(line, str) else json.dumps(line, cls=backup._Encoder)) + "\n")
        writer.write(json.dumps({"end": {"counts": counts}}) + "\n")
        writer.close()
    return str(path)


def _records(tenant):
    checklist_services.checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=ACTOR, text="- [ ] one\n- [ ] two\n"
    )
    checklist_services.template_create(tenant=tenant, actor=ACTOR, data={"name": "T", "text": "- [ ] step"})
    out = io.BytesIO()
    backup.backup_write(out)
    return [r for r in backup._records(io.BytesIO(out.getvalue()))]


def _model(records, label):
    return [r for r in records if r["model"] == label]


CASES = {
    "not an object": lambda rs: [*rs, "[1, 2]"],
    "a number": lambda rs: [*rs, "5"],
    "nested thousands deep": lambda rs: [*rs, "[" * 5000 + "]" * 5000],
    "unknown model": lambda rs: [*rs, {"model": "nope.nope", "pk": 1, "fields": {}}],
    "a staff account": lambda rs: [
        *rs,
        {
            "model": "auth.user",
            "pk": 999,
            "fields": {"username": "evil", "is_superuser": True, "is_staff": True, "password": "x", "is_active": True},
        },
    ],
    "fields not an object": lambda rs: [*rs, {**_model(rs, "checklists.checklist")[0], "pk": "x", "fields": [1]}],
    "no pk": lambda rs: (
        [*rs, {k: v for k, v in _model(rs, "contacts.contact")[0].items() if k != "pk"}]
        if _model(rs, "contacts.contact")
        else [
            *rs,
            {
                "model": "operations.reportedaccount",
                "fields": {"account_id": "a", "reported_at": "2026-01-01T00:00:00+00:00"},
            },
        ]
    ),
    "duplicated item": lambda rs: [*rs, _model(rs, "checklists.checklistitem")[0]],
    "tenant without client key": lambda rs: [
        {**r, "fields": {k: v for k, v in r["fields"].items() if k != "client_key"}}
        if r["model"] == "tenants.tenant"
        else r
        for r in rs
    ],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("scope", ["all", "tenant"])
def test_a_crafted_archive_is_refused_and_changes_nothing(tenant, tmp_path, case, scope):
    if case == "tenant without client key" and scope == "all":
        pytest.skip("the live site's clientKey is kept (TENANT_LIVE_FIELDS): nothing to refuse")
    records = _records(tenant)
    path = _craft(tmp_path / "crafted.hcbak", CASES[case](records))
    before = _state()
    users = get_user_model().objects.count()
    with pytest.raises(backup.ArchiveError):
        backup.archive_restore(path, tenant=tenant.client_key if scope == "tenant" else None)
    assert _state() == before
    assert get_user_model().objects.count() == users


def test_a_header_nested_thousands_deep_is_refused_before_any_key_is_looked_at(tmp_path):
    # The header is read before anything is authenticated: anyone's bytes, so no archive key is needed to send this.
    header = b"[" * 30_000 + b"]" * 30_000
    path = tmp_path / "deep.hcbak"
    path.write_bytes(backup.MAGIC + struct.pack(">I", len(header)) + header)
    before = _state()
    with pytest.raises(backup.ArchiveError, match="unreadable header"):
        backup.archive_restore(str(path))
    assert _state() == before


def test_a_line_longer_than_any_record_is_refused_before_it_is_held_whole(tenant, tmp_path, monkeypatch):
    monkeypatch.setattr(backup, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(backup, "FRAME_BYTES", 1024)
    path = _craft(tmp_path / "long.hcbak", [*_records(tenant), "[" + "0," * 50_000 + "0]"])
    before = _state()
    with pytest.raises(backup.ArchiveError, match="longer than"):
        backup.archive_restore(path)
    assert _state() == before


def test_a_frame_that_inflates_hugely_comes_out_in_bounded_pieces(tenant, tmp_path, monkeypatch):
    monkeypatch.setattr(backup, "FRAME_BYTES", 1024)
    path = _craft(tmp_path / "bomb.hcbak", [*_records(tenant), " " * 200_000 + "{}"])
    with open(path, "rb") as src:
        sizes = [len(chunk) for chunk in backup._plaintext_chunks(src)]
    assert max(sizes) <= 1024


def _moved(records, label, site, **changes):
    """The records with the first `label` record of `site` changed."""
    first = next(r for r in _model(records, label) if r["fields"]["tenant"] == str(site.pk))
    return [{**r, "fields": {**r["fields"], **changes}} if r is first else r for r in records]


@pytest.mark.parametrize("label", ["checklists.checklistitem", "checklists.checklistchange"])
@pytest.mark.parametrize("scope", ["all", "tenant"])
def test_a_record_pointing_into_another_sites_checklist_is_refused(tenant, other_tenant, tmp_path, label, scope):
    theirs = checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue_ref(), actor=ACTOR, text="- [ ] theirs\n"
    )
    records = _records(tenant)
    path = _craft(tmp_path / "mixed.hcbak", _moved(records, label, tenant, checklist=str(theirs.pk)))
    before = _state()
    with pytest.raises(backup.ArchiveError, match="not its site's"):
        backup.archive_restore(path, tenant=tenant.client_key if scope == "tenant" else None)
    assert _state() == before


@pytest.mark.parametrize("label", ["checklists.checklist", "checklists.template", "checklists.checklistitem"])
def test_a_record_of_a_site_the_archive_does_not_hold_is_refused(tenant, other_tenant, tmp_path, label):
    records = [r for r in _records(tenant) if not (r["model"] == "tenants.tenant" and r["pk"] == str(other_tenant.pk))]
    path = _craft(tmp_path / "orphan.hcbak", _moved(records, label, tenant, tenant=str(other_tenant.pk)))
    before = _state()
    with pytest.raises(backup.ArchiveError):
        backup.archive_restore(path)
    assert _state() == before


@pytest.mark.parametrize(
    "name", ["../../elsewhere.hcbak", "/nowhere/at/all.hcbak", "sub/../../x.hcbak", "..", "a\x00b"]
)
def test_a_name_reaching_outside_the_backups_storage_is_refused_plainly(name):
    with pytest.raises(CommandError, match="no archive named") as refused:
        call_command("restore", name, "--verify-only")
    assert refused.value.__cause__ is None or isinstance(refused.value.__cause__, backup.ArchiveError)


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "<b>not a status</b>"},
        {"status": 3},
        {"is_header": True, "status": "done"},
        {"is_header": True, "due_date": "2026-12-01"},
        {"is_header": True, "assignee_account_id": "557058:bob"},
        {"text": ""},
    ],
)
def test_an_item_the_api_would_refuse_is_refused(tenant, tmp_path, changes):
    records = _records(tenant)
    path = _craft(tmp_path / "item.hcbak", _moved(records, "checklists.checklistitem", tenant, **changes))
    before = _state()
    with pytest.raises(backup.ArchiveError, match="breaks the input rules"):
        backup.archive_restore(path)
    assert _state() == before
