"""The customer data the admin console tests look at (fixtures shared by the console's test modules)."""

import pytest

from checklists import services as checklist_services
from checklists.models import Checklist, ChecklistChange
from contacts.models import Contact, License
from tests.conftest import issue_ref

SECRET_TEXT = "Rotate the vault key before Friday"
TEMPLATE_TEXT = "Confidential onboarding steps"
EMAIL = "billing.person@customer.example"


@pytest.fixture
def data(tenant):
    # The stand-in's site: on MongoDB the progress sync runs at once and must reach 127.0.0.1 only.
    other_tenant = tenant
    actor = checklist_services.Actor("557058:alice")
    issue = issue_ref()
    checklist_services.checklist_replace_text(
        tenant=other_tenant, issue=issue, actor=actor, text=f"- [ ] {SECRET_TEXT}\n- [x] Second step\n"
    )
    checklist = Checklist.objects.get(tenant=other_tenant)
    template = checklist_services.template_create(
        tenant=other_tenant, actor=actor, data={"name": "Onboarding", "text": f"- [ ] {TEMPLATE_TEXT}"}
    )
    contact = Contact.objects.create(email=EMAIL, display_name="Bea Billing")
    license_ = License.objects.create(addon_license_id="SEN-1", cloud_site_hostname="tenant-b.atlassian.net")
    return {
        "tenant": other_tenant,
        "checklist": checklist,
        "item": checklist.items.order_by("position").first(),
        "change": ChecklistChange.objects.filter(checklist=checklist).first(),
        "template": template,
        "contact": contact,
        "license": license_,
    }


def url(obj=None, model=None, page="change/"):
    opts = (model or type(obj))._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    return base + (f"{obj.pk}/{page}" if obj is not None else page if model is not None and page != "change/" else "")
