from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django_otp.admin import OTPAdminAuthenticationForm
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

SIGN_IN_FAILED = "Sign-in failed. Check the username, the password and the code, and try again."


class AdminLoginForm(OTPAdminAuthenticationForm):
    """Username, password and one code: a 6-digit code from the authenticator app, or one of the recovery codes.

    django-otp asks the user to pick a device first; we pick it from the code's shape, among the user's own confirmed
    devices only. Until password and code are both right the answer is one generic error (a distinct "wrong code"
    would confirm the password), and every failed attempt, a missing code included, counts as a failed login for
    django-axes, so neither the password nor the codes can be guessed without lockout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        token = self.fields["otp_token"]
        token.label = "Code from your authenticator app, or a recovery code"
        # one-time-code: phones and password managers offer the code; no size cap, a recovery code is longer.
        token.widget.attrs.update({"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"})

    def _update_form(self, user):
        # django-otp, once the password is right, fills it back into the page (so a second step need not ask again):
        # the password then sat in the HTML of a failed attempt, and only when it was right. One step here; never.
        super()._update_form(user)
        self.fields["password"].widget.render_value = False

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is not None:
            # A device named in the form (otp_device) counts only if confirmed: django-otp checks whose it is, not
            # that. An unconfirmed one (switched off in the console) then "signed in", resetting the lockout's count
            # and telling the sender the password was right, though the next request drops it (OTPMiddleware).
            return device if device.confirmed else None
        token = (self.cleaned_data.get("otp_token") or "").strip()
        model = TOTPDevice if token.isascii() and token.isdigit() and len(token) <= 8 else StaticDevice
        return model.objects.filter(user=user, confirmed=True).first()

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            raise ValidationError(SIGN_IN_FAILED, code="invalid_login") from None

    def clean_otp(self, user):
        try:
            super().clean_otp(user)
        except ValidationError:
            if user is not None:
                # The password was right (Django's authenticate() reports wrong ones itself): this attempt counts.
                user_login_failed.send(
                    sender=__name__, credentials={"username": user.get_username()}, request=self.request
                )
            raise
