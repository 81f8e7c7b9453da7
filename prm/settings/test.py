import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import STORAGES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
AXES_ENABLED = False
PRM_DASHBOARD_CACHE_SECONDS = 0  # tests read what they just wrote
PRM_CERTIFICATE_VERIFY_RATE = 10_000  # the throttle's own test lowers it
PRM_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the delivery tests' local receiver; the SSRF tests clear it
ACCOUNT_RATE_LIMITS = False  # django-axes' lock-out is what the tests exercise
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="prm-test-media-"))  # uploads (CSV imports) stay out of the checkout
