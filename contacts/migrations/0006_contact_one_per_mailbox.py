"""Contacts stored before normalise_email took its present form (first only lower case, later NFKC and the domain's
IDNA form) may hold one mailbox under several spellings, each a contact of its own, each mailed and pushed to HubSpot
on its own; ingestion, looking contacts up by the normal form, never finds them. Fold each such group into one
contact (contacts.services.contacts_merge_duplicates: its rules are there). Reversing it is a no-op: the merged rows
were one person, and splitting them again would only bring the double emails back.

This migration imports the service and normalise_email through it rather than copying them: the merge must apply
exactly the rule every write path applies today (a copy frozen here could fold differently, and leave rows ingestion
still misses). Both are written against the models they are given (the historical ones here), use only fields this
migration's state has, and a later change of the rule would need a migration of its own anyway.

Not atomic: each group is merged in a transaction of its own (core.db.atomic), so a run stopped midway leaves every
group whole or untouched, and the next run finishes the rest. (On MongoDB Django's migration transaction is no
transaction, only a flag under which the backend's real one cannot commit.)"""

from django.db import migrations

from contacts.services import contacts_merge_duplicates


def merge_duplicates(apps, schema_editor):
    contacts_merge_duplicates(apps=apps)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("contacts", "0005_contact_sweep")]
    operations = [migrations.RunPython(merge_duplicates, migrations.RunPython.noop)]
