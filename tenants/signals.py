"""The tenant lifecycle events other apps react to. Tenants sends them and knows no app that listens; these signals
are the one way lifecycle events leave the tenants app (tests/tenants/test_lifecycle_signals.py holds every app with
rows of a site to listening). Each sends `tenant_id`, the tenant's id as text. An install needs no event of its own:
no app keeps anything about a site before it has data of its own; only the install that joins a site's two tenants
into one sends tenant_merging. (Operations' restore, which replaces one site's rows with
an archive's, is not a lifecycle event: it calls the apps itself, being above them all.)"""

from django.dispatch import Signal

# Sent after the uninstall is committed, with `tenant_id`. Other apps react without tenants knowing them.
tenant_uninstalled = Signal()

# Sent inside the purge's transaction, before the tenant row goes, with `tenant_id`. Each receiver deletes the rows
# of its app keyed to that site and returns {model label: rows deleted}; a receiver's error aborts the purge.
tenant_purging = Signal()

# Sent inside a Connect install's transaction when the site's Connect tenant takes in the Forge tenant its first
# Forge call made (tenants.services.tenant_install), with `source_id` (the Forge tenant, deleted next) and `target_id`.
# Each receiver moves the rows of its app keyed to the source onto the target, losing and doubling none, and returns
# {model label: rows moved}; a receiver's error aborts the install.
tenant_merging = Signal()
