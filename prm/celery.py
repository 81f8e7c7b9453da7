import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prm.settings.base")

app = Celery("prm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _local_broker_folders(sender, **kwargs) -> None:
    """The embedded default's file-system broker and result store need their folders; create them when the Celery
    app is first used (worker, beat or a producer), never at settings import."""
    from django.conf import settings  # the conf is being loaded: read the source, not sender.conf

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    folders = [options.get(k) for k in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")]
    backend = getattr(settings, "CELERY_RESULT_BACKEND", "") or ""
    if backend.startswith("file://"):
        folders.append(backend.removeprefix("file://"))
    for folder in filter(None, folders):
        Path(folder).mkdir(parents=True, exist_ok=True)
