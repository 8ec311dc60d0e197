import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from core import crypto
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_rotation_moves_every_secret_to_the_new_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    tenant = Tenant(client_key="rotating", base_url="https://acme.atlassian.net")
    tenant.set_shared_secret("the-shared-secret-value")
    tenant.save()

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_keys")

    settings.FIELD_ENCRYPTION_KEYS = [new]  # the old key is gone now
    assert Tenant.objects.get(id=tenant.id).shared_secret == "the-shared-secret-value"


def test_a_value_under_an_unknown_key_is_a_clear_error(settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt("x")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
