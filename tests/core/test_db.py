import pytest
from django.contrib.auth.models import Group

from core.db import atomic, on_commit


@pytest.mark.django_db(transaction=True)
def test_atomic_rolls_back_every_write_in_the_block():
    with pytest.raises(RuntimeError), atomic():
        Group.objects.create(name="first")
        Group.objects.create(name="second")
        raise RuntimeError("abort")
    assert not Group.objects.filter(name__in=["first", "second"]).exists()


@pytest.mark.django_db(transaction=True)
def test_on_commit_runs_after_commit_and_not_after_rollback():
    ran = []
    with atomic():
        Group.objects.create(name="kept")
        on_commit(lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    with pytest.raises(RuntimeError), atomic():
        on_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("abort")
    assert ran == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_atomic_as_a_decorator():
    @atomic
    def create_then_fail():
        Group.objects.create(name="decorated")
        raise ValueError("no")

    with pytest.raises(ValueError):
        create_then_fail()
    assert not Group.objects.filter(name="decorated").exists()
