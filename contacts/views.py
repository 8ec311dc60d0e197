from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from .services import contact_for_unsubscribe_token, contact_unsubscribe


@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET asks, POST unsubscribes: mail scanners that follow links must not unsubscribe anyone."""
    contact = contact_for_unsubscribe_token(token)
    if contact is None:
        return render(request, "contacts/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "POST":
        contact_unsubscribe(contact=contact)
        return render(request, "contacts/unsubscribe.html", {"done": True})
    return render(request, "contacts/unsubscribe.html", {"token": token})
