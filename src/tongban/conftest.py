"""Fixtures shared by every app's tests."""

import pytest
from django.core.cache import cache

from tongban.core import notify


@pytest.fixture(autouse=True)
def _clean_state():
    cache.clear()
    notify.outbox.clear()
    yield
    cache.clear()


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or db.get('NAME')}"
