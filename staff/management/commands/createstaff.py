"""Create a staff account in one role, with its second factor, and show the secrets once."""

import io
import secrets
import sys

import segno
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.db import atomic
from staff.roles import ROLE_CHOICES, sync_roles

RECOVERY_CODES = 10


class Command(BaseCommand):
    help = (
        "Create a staff user in a role and print, once, the TOTP provisioning URI (with a terminal QR code), "
        "recovery codes and, unless --password-stdin is given, a generated password."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_CHOICES))
        parser.add_argument("--email", default="")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        parser.add_argument("--no-qr", action="store_true", help="print the URI only")
        parser.add_argument(
            "--reset-otp", action="store_true", help="existing user: replace the authenticator and recovery codes"
        )

    def handle(self, *args, username, role, email, password_stdin, no_qr, reset_otp, **options):
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing and not reset_otp:
            raise CommandError(f"user {username!r} exists; use --reset-otp to give it a new second factor")
        if reset_otp and not existing:
            raise CommandError(f"user {username!r} does not exist")
        password = None
        if not existing:
            password = sys.stdin.readline().rstrip("\n") if password_stdin else secrets.token_urlsafe(18)
            try:
                validate_password(password, User(username=username, email=email))
            except ValidationError as exc:
                raise CommandError("password refused: " + " ".join(exc.messages)) from exc
        sync_roles()
        with atomic():
            user = existing or self._create_user(User, username, email, password, role)
            totp, codes = self._provision(user)
        self.stdout.write(f"Staff user {username!r} ({role}). Shown once; nothing here can be displayed again.")
        if password and not password_stdin:
            self.stdout.write(f"Password: {password}")
        self.stdout.write(f"Authenticator (TOTP) URI: {totp.config_url}")
        if not no_qr:
            qr = io.StringIO()
            segno.make(totp.config_url, error="m").terminal(out=qr, compact=True)
            self.stdout.write(qr.getvalue())
        self.stdout.write("Recovery codes (each works once): " + " ".join(codes))

    @staticmethod
    def _create_user(User, username, email, password, role):
        user = User.objects.create_user(username=username, email=email, password=password, is_staff=True)
        if ROLE_CHOICES[role] is None:
            user.is_superuser = True
            user.save(update_fields=["is_superuser"])
        else:
            user.groups.add(Group.objects.get(name=ROLE_CHOICES[role]))
        return user

    @staticmethod
    def _provision(user):
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        static = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
        return totp, codes
