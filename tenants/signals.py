"""The tenant lifecycle events other apps react to. Tenants sends them and knows no app that listens; these signals
are the one way lifecycle events leave the tenants app (operations calls the apps directly, being above them all)."""

from django.dispatch import Signal

# Sent after the uninstall is committed, with `tenant_id`. Other apps react without tenants knowing them.
tenant_uninstalled = Signal()

# Sent inside the purge's transaction, before the tenant row goes, with `tenant_id`. Each receiver deletes the rows
# of its app keyed to that site and returns {model label: rows deleted}; a receiver's error aborts the purge.
tenant_purging = Signal()
