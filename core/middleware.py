import re
import uuid

from django.conf import settings
from django.middleware.gzip import GZipMiddleware

from . import context

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # fullmatch: `$` would admit a trailing newline
JIRA_FRAME_ANCESTORS = ("https://*.atlassian.net", "https://*.jira.com")


class RequestContextMiddleware:
    """Gives every request an id (kept from a well-formed X-Request-ID) and a fresh log context.

    The context is cleared when the next request starts, not when this one ends: Django logs 4xx/5xx responses
    after the middleware chain has returned, and those lines should still carry the request id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context.reset()
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        context.request_id.set(request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


def jira_frame(view):
    """Marks a view as a page Jira embeds in an iframe: framing allowed for Jira hosts only."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.xframe_options_exempt = True
        response.jira_frame = True
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    wrapped.__wrapped__ = view
    return wrapped


def _origin(url: str) -> str:
    match = re.match(r"^(https?://[^/]+)", url or "")
    return match.group(1) if match else ""


class SecurityHeadersMiddleware:
    """A Content-Security-Policy on every response; framing denied except on Jira pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        scripts = ["'self'"]
        if getattr(response, "jira_frame", False):
            ancestors = " ".join((*JIRA_FRAME_ANCESTORS, *settings.EXTRA_FRAME_ANCESTORS))
            all_js = _origin(settings.ATLASSIAN_ALL_JS_URL)
            if all_js:
                scripts.append(all_js)
        else:
            ancestors = "'none'"
        response["Content-Security-Policy"] = "; ".join(
            (
                "default-src 'self'",
                f"script-src {' '.join(scripts)}",
                # Django's admin and Atlassian's all.js set inline styles; scripts stay strict.
                "style-src 'self' 'unsafe-inline'",
                "img-src 'self' data:",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                f"frame-ancestors {ancestors}",
            )
        )
        return response


class BodyLimitMiddleware:
    """413 with a JSON body for requests announcing more than DATA_UPLOAD_MAX_MEMORY_SIZE bytes, before any view
    reads them (Django itself would answer a bare 400 only once the body is read)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit and length > limit:
            from django.http import JsonResponse

            return JsonResponse(
                {"error": "too_large", "detail": f"The request body is over the limit of {limit} bytes."}, status=413
            )
        return self.get_response(request)


class ApiGZipMiddleware(GZipMiddleware):
    """gzip for /api/ JSON only. Pages that carry a token (the panel) stay uncompressed, so compression can never
    be used to guess a secret next to reflected input (BREACH)."""

    def process_response(self, request, response):
        if not request.path.startswith("/api/"):
            return response
        return super().process_response(request, response)
