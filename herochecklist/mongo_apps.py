"""App configs used only on MongoDB, where AutoField does not exist (see ../shared mongodb.md): Django's contrib apps
and the third-party security apps get ObjectId keys and their own committed migrations (MIGRATION_MODULES)."""

from axes.apps import AppConfig as AxesConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig
from django_otp.plugins.otp_static.apps import DefaultConfig as StaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPConfig

from .apps import HeroAdminConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(HeroAdminConfig):
    default_auto_field = OBJECT_ID


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoTOTPConfig(TOTPConfig):
    default_auto_field = OBJECT_ID


class MongoStaticConfig(StaticConfig):
    default_auto_field = OBJECT_ID


class MongoAxesConfig(AxesConfig):
    default_auto_field = OBJECT_ID
