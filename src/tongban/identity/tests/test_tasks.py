"""Background work goes through a real Celery worker and a real Redis broker."""

import datetime as dt
import os

import pytest
from axes.models import AccessAttempt
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from tongban.celery import app
from tongban.identity.tasks import housekeeping

REDIS_URL = os.environ.get("TONGBAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _forget_backend():
    # Celery caches the result backend per thread; a test that ran eagerly before would leave a disabled one.
    if hasattr(app._local, "backend"):
        del app._local.backend
    # ...and its connection pools, which would still point at the in-memory broker.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_worker():
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL, task_always_eager=False)
    _forget_backend()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app
    finally:
        app.conf.update(saved)
        _forget_backend()


def failed_attempt(username, *, at=None):
    attempt = AccessAttempt.objects.create(
        username=username,
        ip_address="127.0.0.1",
        user_agent="t",
        failures_since_start=3,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/login/",
    )
    if at is not None:  # attempt_time is set on insert
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=at)


@pytest.mark.django_db(transaction=True)
def test_housekeeping_runs_on_a_worker_through_redis(redis_worker):
    failed_attempt("x", at=timezone.now() - dt.timedelta(days=2))
    failed_attempt("y")
    result = housekeeping.delay()
    assert result.get(timeout=20) == {"expired_attempts": 1, "abandoned_enrolments": 0}
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["y"]
