from contextlib import suppress

from django.apps import apps
from django.core.exceptions import ValidationError
from django_otp import middleware
from django_otp.models import Device


class OTPMiddleware(middleware.OTPMiddleware):
    """django-otp's middleware, reading device ids of any key type: it parses them as integers, and on MongoDB they
    are ObjectIds (a verified admin session would otherwise lose its second factor on the next request)."""

    def _device_from_persistent_id(self, persistent_id: str):
        persistent_id = self._normalize_persistent_id(persistent_id)
        with suppress(ValueError, LookupError, TypeError, ValidationError):
            model_label, device_id = persistent_id.rsplit("/", 1)
            model = apps.get_model(model_label)
            if issubclass(model, Device):
                return model.objects.filter(pk=device_id).first()
        return None
