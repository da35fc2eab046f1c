"""Composition root of the Celery worker.

`celery -A services.render.pipeline.worker worker -Q feeds`
"""

from services.render.pipeline import worker_logging, worker_metrics
from services.render.pipeline.celery_app import make_celery
from shared.settings import Settings

settings = Settings()
# Before make_celery makes the build metrics, so they go to the pool's shared files.
metrics_dir = worker_metrics.prepare(settings)
app = make_celery(settings)
worker_logging.install(app, settings)
worker_metrics.serve(app, settings, metrics_dir)
