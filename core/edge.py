"""
Two middleware stacks by path: /api/ requests pass only the edge (settings.MIDDLEWARE: metrics, request id, JSON
errors, body limit, security headers, host check, gzip), everything else also passes settings.ADMIN_MIDDLEWARE
(sessions, CSRF, users, django-otp, messages, django-axes), which only the admin console and its sign-in need.

The API authenticates every call with its own credential (tenants/auth) and never reads a session or a user; those
six middleware cost a read about a tenth of its time (issue #21) for nothing.
"""

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

API_PREFIX = "/api/"


class AdminStackMiddleware:
    """Last in MIDDLEWARE. Runs ADMIN_MIDDLEWARE around the view, in that order, for every path outside /api/; their
    view, template-response and exception hooks (CSRF's check lives in process_view) are called in the order Django
    itself would call them had they been listed in MIDDLEWARE."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.view_hooks: list = []
        self.template_hooks: list = []
        self.exception_hooks: list = []
        handler = get_response
        for path in reversed(settings.ADMIN_MIDDLEWARE):
            instance = import_string(path)(handler)
            if hasattr(instance, "process_view"):
                self.view_hooks.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self.template_hooks.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self.exception_hooks.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self.admin_chain = handler

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)
        return self.admin_chain(request)

    def process_view(self, request, view, args, kwargs):
        if request.path.startswith(API_PREFIX):
            return None
        for hook in self.view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None

    def process_template_response(self, request, response):
        if not request.path.startswith(API_PREFIX):
            for hook in self.template_hooks:
                response = hook(request, response)
        return response

    def process_exception(self, request, exc):
        if request.path.startswith(API_PREFIX):
            return None
        for hook in self.exception_hooks:
            response = hook(request, exc)
            if response is not None:
                return response
        return None
