"""Deployment files agree with each other and with the settings: docker-compose.yml, Dockerfile,
.env.example, package.json and the templates. No database needed."""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ["migrate", "web", "worker", "worker-long", "beat"]
CDN_PATTERN = re.compile(r"(?:https?:)?//[^\s\"'<>]*(?:\bcdn\.|unpkg|jsdelivr|cdnjs)", re.IGNORECASE)
# env.str("NAME", env.db("NAME", env("NAME", environ.Env().str("NAME", os.environ.get("NAME", os.getenv("NAME"
SETTINGS_ENV_READ = re.compile(
    r"""(?:\benv|\bEnv\(\)|os\.environ\.get|os\.getenv|os\.environ\[)(?:\.\w+)?\(?\s*["']([A-Z][A-Z0-9_]*)["']"""
)


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def command_line(service) -> str:
    command = service.get("command", "")
    return shlex.join(command) if isinstance(command, list) else command


def environment(service) -> dict:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_compose_has_every_service(services):
    assert {"db", "redis", "migrate", "web", "worker", "worker-long", "beat"} <= set(services)


def test_backing_service_images(services):
    assert str(services["db"]["image"]).startswith("postgres:16")
    # room in the shared lock table for two 5,000-customer upserts at once (their advisory locks)
    assert "max_locks_per_transaction=256" in services["db"]["command"]
    assert str(services["redis"]["image"]).startswith("redis:7")
    assert "pg_isready" in json.dumps(services["db"]["healthcheck"]["test"])
    assert "ping" in json.dumps(services["redis"]["healthcheck"]["test"])


def test_migrate_is_one_shot(services):
    assert "manage.py migrate" in command_line(services["migrate"])
    assert services["migrate"].get("restart", "no") == "no"


def test_web_runs_gunicorn_on_8000(services):
    web = services["web"]
    assert "gunicorn prm.wsgi:application" in command_line(web)
    assert "0.0.0.0:8000" in command_line(web)
    assert any(str(port).endswith("8000") for port in web["ports"])
    assert "/healthz" in json.dumps(web["healthcheck"]["test"])
    depends = web["depends_on"]
    assert depends["db"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", ["worker", "worker-long"])
def test_worker_runs_celery_worker_without_embedded_beat(services, name):
    command = command_line(services[name])
    assert "celery -A prm worker" in command
    # An embedded beat (-B) next to the beat service would send every periodic task twice.
    assert " -B" not in command and "--beat" not in command


def queues(service) -> set[str]:
    match = re.search(r"(?:-Q|--queues)[ =](\S+)", command_line(service))
    return set(match.group(1).split(",")) if match else {"celery"}


def test_every_queue_has_a_worker_and_long_jobs_have_their_own(services):
    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    routed |= {job.get("options", {}).get("queue", "celery") for job in settings.CELERY_BEAT_SCHEDULE.values()}
    served = queues(services["worker"]) | queues(services["worker-long"])
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= served
    assert queues(services["worker"]) == {"celery"} and queues(services["worker-long"]) == {"long"}
    assert "kpi.tasks.nightly_run" in settings.LONG_TASKS


def test_exactly_one_beat(services):
    beat = services["beat"]
    assert "celery -A prm beat" in command_line(beat)
    assert beat["deploy"]["replicas"] == 1
    beats = [name for name, s in services.items() if re.search(r"celery .*(\bbeat\b| -B\b)", command_line(s))]
    assert beats == ["beat"]


def test_media_volume_shared_by_web_and_worker(services, compose):
    for name in ("web", "worker", "worker-long"):
        assert any(str(v).startswith("media:") for v in services[name].get("volumes", [])), name
    assert "media" in compose["volumes"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_production_settings_from_environment(services, name):
    service = services[name]
    assert service.get("build") == "." or service.get("build", {}).get("context") == "."
    env = environment(service)
    assert env["DJANGO_SETTINGS_MODULE"] == "prm.settings.production"
    assert env["DATABASE_URL"].startswith("postgres://") and "@db:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    # The secret is never written into the file: compose must refuse to start without it.
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", env["SECRET_KEY"])
    assert "${POSTGRES_PASSWORD" in env["DATABASE_URL"]


def test_settings_environment_variables_are_documented():
    source = "\n".join(p.read_text() for p in sorted((ROOT / "prm" / "settings").glob("*.py")))
    read = set(SETTINGS_ENV_READ.findall(source))
    # The regex must still match the settings' style, or this test would pass vacuously.
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PRM_VAR_DIR"} <= read
    missing = read - env_example_names()
    assert not missing, f"read by prm/settings but not documented in .env.example: {sorted(missing)}"


def test_compose_variables_are_documented():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text))
    assert "SECRET_KEY" in used
    missing = used - env_example_names()
    assert not missing, f"interpolated in docker-compose.yml but not in .env.example: {sorted(missing)}"


def test_env_example_entries_are_commented():
    lines = (ROOT / ".env.example").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line):
            assert i > 0 and lines[i - 1].startswith("#"), f"no comment above {line!r}"


def test_dockerfile_builds_assets_from_npm_not_a_cdn():
    text = (ROOT / "Dockerfile").read_text()
    instructions = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not CDN_PATTERN.search(instructions)
    assert not re.search(r"\b(curl|wget)\b|ADD\s+https?://", instructions)
    assert re.search(r"^FROM node:20\S* AS \w+", instructions, re.MULTILINE)
    assert "npm ci" in instructions
    assert re.search(r"^FROM python:3\.11-slim", instructions, re.MULTILINE)
    assert "collectstatic" in instructions
    user = re.findall(r"^USER\s+(\S+)", instructions, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE 8000\b", instructions, re.MULTILINE)
    assert "gunicorn prm.wsgi:application" in instructions


def test_dockerignore_keeps_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "node_modules", "var", "staticfiles", "media", ".env"} <= ignored


def test_templates_do_not_load_from_cdns():
    templates = sorted((ROOT / "templates").rglob("*.html"))
    assert templates
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in templates
        for match in CDN_PATTERN.finditer(path.read_text())
    ]
    assert not offenders


def test_vendored_static_dirs_come_from_package_json():
    package = json.loads((ROOT / "package.json").read_text())
    dependencies = package["dependencies"]
    settings = (ROOT / "prm" / "settings" / "base.py").read_text()
    modules = set(re.findall(r'NODE_MODULES\s*/\s*"([^"]+)"', settings))
    assert modules, "STATICFILES_DIRS no longer reads from node_modules"
    assert modules <= set(dependencies)
    assert re.match(r"\^?2\.", dependencies["htmx.org"]), "htmx is pinned to major version 2"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for module in modules:
        assert f"node_modules/{module}" in lock["packages"], f"{module} missing from package-lock.json"
