import pytest


@pytest.fixture(autouse=True)
def memory_storage(settings):
    """Uploaded files go to memory: tests leave nothing on disk and need no MEDIA_ROOT."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
