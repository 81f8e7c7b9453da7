"""Settings shared by every environment; every value that differs between machines comes from the environment."""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# Read after .env, so PRM_VAR_DIR may be set there. Nothing is created here: prm.celery makes the folders the
# file-system broker needs when the Celery app is configured, and the file cache creates its own.
VAR_DIR = Path(env.str("PRM_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
# The embedded default is meant to run out of the box; production.py refuses to start without a real key.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-change-me-0123456789abcdefghijklmnop")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "prm",
    "partners",
    "leads",
    "training",
    "kpi",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "prm.auth.SignInLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "prm.auth.MfaRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp 4): scripts and styles only from the portal itself (htmx, Bootstrap and
# Chart.js are served from node_modules); an inline <script> needs nonce="{{ request.csp_nonce }}". Style
# attributes (progress-bar widths) are allowed, <style> elements are not. Swagger UI brings its own inline script.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "prm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "prm.context_processors.shell",
                "csp.context_processors.nonce",
            ],
            "builtins": ["prm.templatetags.formatting"],
            "libraries": {
                "enablement": "partners.enablement.templatetags.enablement",
                "delivery": "leads.delivery.templatetags.delivery",
            },
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker share the file: WAL and IMMEDIATE transactions avoid "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # JIT compilation costs hundreds of milliseconds on the portal's short analytic queries (nightly KPIs,
    # routing eligibility) and never pays back at this size: switch it off for the portal's connections.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite (the embedded default) cannot build unique constraints with NULLS NOT DISTINCT; PostgreSQL does.
SILENCED_SYSTEM_CHECKS = ["models.W047"]

AUTH_USER_MODEL = "prm.User"
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "prm.auth.PortalBackend"]
# Sign-in, password reset, MFA and single sign-on: django-allauth. Log in by e-mail; no self-service sign-up
# (accounts come from onboarding); vendor admins must add TOTP or a security key (prm.auth.MfaRequiredMiddleware).
ACCOUNT_ADAPTER = "prm.auth.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="PRM portal")
MFA_PASSKEY_LOGIN_ENABLED = False
# Identity providers (OpenID Connect, SAML 2.0) are social applications in the admin; SsoDomain maps e-mail
# domains to them. SSO only signs in existing users, matched by the e-mail the provider asserts for its domain.
SOCIALACCOUNT_ADAPTER = "prm.auth.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True}, "saml": {}}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "lockout.html"  # a styled page that says when to try again
AXES_USERNAME_CALLABLE = "prm.auth.axes_username"  # one counter per canonical e-mail, whatever its letter case

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "prm" / "locale"]
# Dates read the same everywhere, in the reader's language (prm/l10n.py; numbers and money come from Babel).
FORMAT_MODULE_PATH = ["prm.formats"]
# The vendor's time zone: nightly jobs and reports run on its calendar.
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
NODE_MODULES = BASE_DIR / "node_modules"
# Front-end libraries come from the npm registry at set-up (package.json); nothing third-party is committed.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PRM portal <noreply@localhost>")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # Longer than any countdown we schedule and than the longest task, so an unacked task is not redelivered
    # to a second worker while the first still runs it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
else:
    # No service needed: the file system is the broker, so the embedded default still runs a real worker and beat.
    _broker_dir = VAR_DIR / "celery" / "broker"
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{VAR_DIR / 'celery' / 'results'}"

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True  # tasks are idempotent: a task lost with its worker runs again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
NIGHTLY_HOUR = env.int("NIGHTLY_HOUR", default=2)
# Schedules live in code and are mirrored into django-celery-beat's tables, where they are visible in the admin.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "prm.tasks.heartbeat", "schedule": 60.0},
    "notifications-email": {"task": "prm.tasks.notification_emails_send_pending", "schedule": 300.0},
    "notifications-digest": {"task": "prm.tasks.notification_digests_send", "schedule": crontab(hour=7, minute=30)},
    "nightly-run": {"task": "kpi.tasks.nightly_run", "schedule": crontab(hour=NIGHTLY_HOUR, minute=0)},
    "offers-expire": {"task": "leads.tasks.offers_expire", "schedule": 60.0},
    "leads-route-new": {"task": "leads.tasks.leads_route_new", "schedule": 60.0},
    "protections-expire": {"task": "leads.tasks.protections_expire", "schedule": crontab(minute=15)},
    "registrations-check": {
        "task": "leads.tasks.registrations_check_task",
        "schedule": 300.0,
        "options": {"queue": "long"},  # the sweep of leftovers; a CRM's deals are checked as they come
    },
    "certifications-remind": {
        "task": "training.tasks.certifications_remind",
        "schedule": crontab(hour=7, minute=0),
    },
    "requests-escalate": {"task": "partners.enablement.tasks.requests_escalate", "schedule": 300.0},
    "api-idempotency-purge": {"task": "prm.api_auth.idempotency_records_purge_task", "schedule": crontab(minute=40)},
    "api-changes-purge": {"task": "prm.api_changes.changes_purge_task", "schedule": crontab(hour=4, minute=20)},
    "disputes-escalate": {"task": "leads.tasks.disputes_escalate", "schedule": 300.0},
    "registrations-escalate": {"task": "leads.tasks.registrations_escalate", "schedule": 300.0},
    "leads-reclaim": {"task": "leads.tasks.leads_reclaim", "schedule": 900.0},
    "tickets-flag-breaches": {"task": "leads.delivery.tasks.tickets_flag_breaches", "schedule": 60.0},
    "checkins-create": {"task": "leads.delivery.tasks.checkins_create", "schedule": crontab(hour=8, minute=0)},
    "service-reports-send": {
        "task": "leads.delivery.tasks.service_reports_send",
        "schedule": crontab(day_of_month=1, hour=9, minute=0),
    },
    # The 2nd, after the nightly run has booked the last day of the month.
    "statements-close": {
        "task": "kpi.payouts.tasks.statements_close",
        "schedule": crontab(day_of_month=2, hour=NIGHTLY_HOUR, minute=30),
    },
    "funds-escalate": {"task": "kpi.funds.tasks.funds_escalate", "schedule": 300.0},
    "allocations-expire": {
        "task": "kpi.funds.tasks.allocations_expire",
        "schedule": crontab(hour=NIGHTLY_HOUR, minute=45),
    },
    "history-prune": {
        "task": "portal.tasks.history_prune",
        "schedule": crontab(hour=(NIGHTLY_HOUR + 2) % 24, minute=0),
    },
}
CELERY_IMPORTS = [
    "partners.enablement.tasks", "leads.delivery.tasks", "kpi.payouts.tasks", "kpi.funds.tasks", "portal.tasks",
]  # fmt: skip
# Long jobs go to their own queue, so a nightly run or a 200,000-deal import never delays the every-minute jobs
# (offer expiry, routing, breach scan). Workers: `celery -A prm worker -Q celery` and `-Q long` (or both:
# `-Q celery,long`, as bin/demo and CI run them). A bulk import's registration checks go to `long` too
# (leads.services.registration.registrations_submit); a single deal's stay on the default queue.
CELERY_TASK_DEFAULT_QUEUE = "celery"
LONG_TASKS = [
    "kpi.tasks.nightly_run",
    "kpi.payouts.tasks.statements_close",
    "kpi.funds.tasks.allocations_expire",
    "leads.tasks.leads_reclaim",
    "portal.tasks.history_prune",
]
CELERY_TASK_ROUTES = {name: {"queue": "long"} for name in LONG_TASKS}
# Retention of history, in days (0 keeps everything): portal.retention, `manage.py prune_history`.
PRM_RETAIN_DAYS = {
    "audit_events": env.int("PRM_RETAIN_AUDIT_DAYS", default=3 * 365),
    "activities": env.int("PRM_RETAIN_ACTIVITY_DAYS", default=3 * 365),
    "routing_decisions": env.int("PRM_RETAIN_ROUTING_DAYS", default=365),
    "notifications": env.int("PRM_RETAIN_NOTIFICATION_DAYS", default=180),
    "webhook_deliveries": env.int("PRM_RETAIN_WEBHOOK_DAYS", default=30),
}

# Largest request body (bytes) for forms and the API; the API answers a larger one with 413 problem+json.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=10 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "prm.api.exception_handler",
    # Per API key (prm.api_auth.ApiKeyRateThrottle), counted in the shared cache.
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("API_RATE_PER_KEY", default="1200/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PRM portal API",
    "DESCRIPTION": "Partner relationship management: partners, leads, deals, training and KPIs for CRM sync.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "LeadStageEnum": "leads.models.Stage",
        "LeadKindEnum": "leads.models.LeadKind",
        "ActivityKindEnum": "leads.models.ActivityKind",
        "TicketKindEnum": "leads.delivery.models.TicketKind",
        "TicketStatusEnum": "leads.delivery.models.TicketStatus",
        "DisputeStatusEnum": "leads.models.DisputeStatus",
        "DisputeOutcomeEnum": "leads.models.DisputeOutcome",
        "VendorRequestStatusEnum": "partners.enablement.models.RequestStatus",
        "VendorRequestCategoryEnum": "partners.enablement.models.RequestCategory",
    },
    "SCHEMA_PATH_PREFIX": "/api/v1",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Domain defaults; each is overridable per program/tier in the data where the issue asks for it.
PRM_REPORTING_CURRENCY = env.str("PRM_REPORTING_CURRENCY", default="RUB")
# KPI / nightly run (issue 7).
PRM_KPI_WINDOW_DAYS = env.int("PRM_KPI_WINDOW_DAYS", default=90)
PRM_HYGIENE_DAYS = env.int("PRM_HYGIENE_DAYS", default=14)
PRM_TIER_GRACE_DAYS = env.int("PRM_TIER_GRACE_DAYS", default=30)
# A run still "running" after this long on a database without advisory locks is taken to be dead.
PRM_NIGHTLY_STALE_MINUTES = env.int("PRM_NIGHTLY_STALE_MINUTES", default=60)
# Won deals without an accrual are caught up for this many days back (a missed night books them late).
PRM_LEDGER_CATCHUP_DAYS = env.int("PRM_LEDGER_CATCHUP_DAYS", default=90)
# Accruals and overrides become payable this many days after the win: younger ones wait for the next statement.
PRM_PAYOUT_HOLD_DAYS = env.int("PRM_PAYOUT_HOLD_DAYS", default=0)
# The channel dashboard's network-wide counters are shared by all channel managers for this long (0 = live).
PRM_DASHBOARD_CACHE_SECONDS = env.int("PRM_DASHBOARD_CACHE_SECONDS", default=60)
# A request counts the dashboard itself only if each statement takes less (ms); otherwise the refresh job counts.
PRM_DASHBOARD_INLINE_MS = env.int("PRM_DASHBOARD_INLINE_MS", default=2000)
if PRM_DASHBOARD_CACHE_SECONDS > 0:  # recounted before they turn stale: no request waits for them
    CELERY_BEAT_SCHEDULE["vendor-home-refresh"] = {
        "task": "portal.tasks.vendor_home_summary_refresh",
        "schedule": max(PRM_DASHBOARD_CACHE_SECONDS / 2, 5.0),
    }
# Connections the nightly run and the bulk demo seed use at once on PostgreSQL (0 = one per core).
PRM_DB_JOBS = env.int("PRM_DB_JOBS", default=0)
# Deal registration: minimum rapidfuzz similarity (0-100) of normalised names that sends a registration to review.
PRM_SOFT_MATCH_THRESHOLD = env.int("PRM_SOFT_MATCH_THRESHOLD", default=90)
# Declined or expired offers before a lead goes to the channel-manager queue.
PRM_ROUTING_MAX_FAILURES = env.int("PRM_ROUTING_MAX_FAILURES", default=3)
# Channel conflict (issue 11): availability checks per user per hour; dispute decision deadline (vendor business
# hours); reclaiming untouched leads: idle days of an open deal, and the grace period (business hours) after a flag.
PRM_AVAILABILITY_RATE = env.int("PRM_AVAILABILITY_RATE", default=30)
PRM_DISPUTE_DECISION_HOURS = env.int("PRM_DISPUTE_DECISION_HOURS", default=16)
# Business hours the vendor has to decide a deal registration waiting for review before it is escalated.
PRM_REGISTRATION_REVIEW_HOURS = env.int("PRM_REGISTRATION_REVIEW_HOURS", default=8)
PRM_RECLAIM_IDLE_DAYS = env.int("PRM_RECLAIM_IDLE_DAYS", default=30)
PRM_RECLAIM_GRACE_HOURS = env.int("PRM_RECLAIM_GRACE_HOURS", default=24)
# Public certificate verification: look-ups per client (IP address, or signed-in user) per minute.
PRM_CERTIFICATE_VERIFY_RATE = env.int("PRM_CERTIFICATE_VERIFY_RATE", default=20)
# Webhooks reach only public addresses; these networks (CIDR) are allowed although not public, e.g. a CRM on the
# vendor's own network. Empty by default.
PRM_WEBHOOK_ALLOWED_NETWORKS = env.list("PRM_WEBHOOK_ALLOWED_NETWORKS", default=[])
