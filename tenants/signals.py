from django.dispatch import Signal

# Sent after the uninstall is committed, with `tenant_id`. Other apps react without tenants knowing them.
tenant_uninstalled = Signal()
