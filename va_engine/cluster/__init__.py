"""Multi-node mode: one clock enqueues ``(client, workflow, slot)``, Celery workers run them.

The workflows and their guarantees are those of :mod:`va_engine.workflows.jobs`;
this package only adds another trigger (the clock), another executor (a
Celery worker) and cross-process scope locks. Importing it does not import
Celery: only :mod:`.celery_app`, :mod:`.tasks` and :mod:`.worker` do.
"""
