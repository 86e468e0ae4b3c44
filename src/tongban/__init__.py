"""Tongban (通办): integrated online government services."""

from .celery import app as celery_app

__all__ = ["celery_app"]
