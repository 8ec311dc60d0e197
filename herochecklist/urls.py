from django.contrib import admin
from django.urls import include, path

from core import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The API first: its checklist read is the busiest path, and each pattern tried before it costs every request.
    path("", include("checklists.urls")),
    path("", include("tenants.urls")),
    path("", include("contacts.urls")),
    path("admin/", admin.site.urls),
]
