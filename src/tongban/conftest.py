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
