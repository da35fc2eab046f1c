"""Composition root of the Celery worker: `celery -A services.render.worker worker -Q feeds`."""

from services.render.celery_app import make_celery
from shared.settings import Settings

app = make_celery(Settings())
