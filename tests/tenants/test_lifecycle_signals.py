"""Tenant lifecycle events reach the other apps one way: the signals of tenants/signals.py, sent by tenants'
services, which import no app above them (the layer contract). These tests hold every app with rows of a site to
listening, and pin what each signal carries."""

import pytest
from django.apps import apps
from django.db.models import ForeignKey

from tenants.models import Tenant
from tenants.services import tenant_purge, tenant_uninstall
from tenants.signals import tenant_merging, tenant_purging, tenant_uninstalled
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)


def listening_apps(signal) -> set[str]:
    sync_receivers, async_receivers = signal._live_receivers(Tenant)
    return {apps.get_containing_app_config(r.__module__).label for r in [*sync_receivers, *async_receivers]}


def test_every_app_with_rows_of_a_site_deletes_them_on_purge_moves_them_on_merge_and_only_contacts_offboard():
    holders = {
        model._meta.app_label
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, ForeignKey) and field.related_model is Tenant and model._meta.app_label != "tenants"
    }
    assert holders == {"checklists", "contacts"}
    assert listening_apps(tenant_purging) == holders
    assert listening_apps(tenant_merging) == holders  # a site's two tenants becoming one moves every app's rows
    assert listening_apps(tenant_uninstalled) == {"contacts"}


def test_uninstall_and_purge_each_send_their_event_once_with_the_tenant_id_as_text(
    client, tenant, django_capture_on_commit_callbacks
):
    sent = []

    def record(signal, **kwargs):
        sent.append((signal, kwargs["tenant_id"]))
        return {} if signal is tenant_purging else None

    tenant_uninstalled.connect(record, dispatch_uid="test-record-uninstalled")
    tenant_purging.connect(record, dispatch_uid="test-record-purging")
    try:
        assert Api(client, tenant).put_text("- [ ] step\n").status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            tenant_uninstall(client_key=tenant.client_key)
        assert sent == [(tenant_uninstalled, str(tenant.id))]  # after the commit, not inside it
        deleted = tenant_purge(tenant=Tenant.objects.get(pk=tenant.pk))
    finally:
        tenant_uninstalled.disconnect(dispatch_uid="test-record-uninstalled")
        tenant_purging.disconnect(dispatch_uid="test-record-purging")
    # The purge's own event, then its follow-up's for rows stored after it (TENANT_PURGE_LEFTOVERS_DELAY_SECONDS
    # later in production; tasks run at once here): the same deletion again, by the same receivers.
    assert sent == [
        (tenant_uninstalled, str(tenant.id)),
        (tenant_purging, str(tenant.id)),
        (tenant_purging, str(tenant.id)),
    ]
    # The apps' own receivers did the deleting: the checklist's rows are counted, and nothing of the site remains.
    assert deleted["checklists.Checklist"] == 1 and deleted["checklists.ChecklistItem"] == 1
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
