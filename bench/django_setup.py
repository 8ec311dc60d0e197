"""Imported (first) by a bench that runs our code in-process: Django is configured from the environment before any
app of ours is imported. A bench that derives its environment from its arguments sets it, then imports this."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")
django.setup()
