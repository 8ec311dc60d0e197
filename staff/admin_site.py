from django.http import Http404
from django_otp.admin import OTPAdminSite

from .forms import AdminLoginForm


class StaffAdminSite(OTPAdminSite):
    """The staff console: only users verified by a second factor get in (OTPAdminSite treats anyone else as not
    staff); roles and auditing live in the ModelAdmins (staff/admin.py). The site served is its subclass in
    operations/admin_site.py, which adds the backups pages."""

    site_header = "HeroChecklist administration"
    site_title = "HeroChecklist admin"
    index_title = "Operations"
    login_form = AdminLoginForm
    login_template = "admin/staff_login.html"  # one form whatever the attempt got right (the template says why)

    def __init__(self, name="admin"):
        super().__init__(name)

    def autocomplete_view(self, request):
        # Django's endpoint lists and searches any registered model's records (a contact's name is its email) for any
        # field of any model pointing at it, outside the audited pages. No page of the console uses autocomplete.
        raise Http404
