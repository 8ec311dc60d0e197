"""The tenant lifecycle events other apps react to. Tenants sends them and knows no app that listens; these signals
are the one way lifecycle events leave the tenants app (tests/tenants/test_lifecycle_signals.py holds every app with
rows of a site to listening). Each sends `tenant_id`, the tenant's id as text. An install needs no event: no app
keeps anything about a site before it has data of its own. (Operations' restore, which replaces one site's rows with
an archive's, is not a lifecycle event: it calls the apps itself, being above them all.)"""

from django.dispatch import Signal

# Sent after the uninstall is committed, with `tenant_id`. Other apps react without tenants knowing them.
tenant_uninstalled = Signal()

# Sent inside the purge's transaction, before the tenant row goes, with `tenant_id`. Each receiver deletes the rows
# of its app keyed to that site and returns {model label: rows deleted}; a receiver's error aborts the purge.
tenant_purging = Signal()
