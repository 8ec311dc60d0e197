"""Minimise what the trail and Django's admin log already hold, as they are written now.

- Audit entries recorded before the trail hashed what staff type hold it in clear in `path`: a list's search text
  (`q`, often an email, a name, an issue key or words of an item) and its filter values. Each is rewritten as new
  entries are written (staff.audit.audit_entries_minimise: the search as a keyed hash with its length and kind,
  filter values that could name someone as hashes), so the audit log's search finds old searches as it finds new ones.
- Django's admin log (django_admin_log, the history page) kept str(obj) of every record changed through the console:
  a contact's email, a site's name, in a table no purge reaches, so they outlived the records a purge erased. The
  audited pages now log records by id (staff.admin.AuditedAdmin); entries written before are rewritten the same way
  (staff.audit.admin_log_minimise).

The migration imports those functions rather than copying them: old and new entries must follow the one rule the
lookup applies. They are written against the models they are given (the historical ones here). Reversing is a no-op:
the clear text is gone, which is the point.

Not atomic: each batch of rows is a transaction of its own (core.db.atomic) of conditional writes, so a run stopped
midway leaves every batch converted or untouched and the next run converts the rest. (On MongoDB Django's migration transaction is no transaction, only a flag under
which the backend's real one cannot commit.)"""

from django.db import migrations

from staff.audit import admin_log_minimise, audit_entries_minimise


def minimise(apps, schema_editor):
    audit_entries_minimise(apps=apps)
    admin_log_minimise(apps=apps)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("staff", "0002_audit_search_hashed"),
        # The audited models' fields decide which filter values stay plain (a choice, a date, an id): their apps'
        # state as of now. Without them every filter value would be hashed, which is safe but reads worse.
        ("tenants", "0004_site_api_tokens"),
        ("checklists", "0008_headers_are_not_customer_visible"),
        ("contacts", "0006_contact_one_per_mailbox"),
        # 0001 of each: on MongoDB these apps have migrations of their own (herochecklist/mongo_migrations), and
        # both sets have this one.
        ("admin", "0001_initial"),
        ("contenttypes", "0001_initial"),
    ]
    operations = [migrations.RunPython(minimise, migrations.RunPython.noop)]
