"""The admin site, assembled from the apps' parts: the staff console (two factors, roles, audit) and the operations
pages (backups). Here because only the top of the house may import both."""

from operations.admin_site import BackupPagesMixin
from staff.admin_site import StaffAdminSite


class HeroAdminSite(BackupPagesMixin, StaffAdminSite):
    pass
