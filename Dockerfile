# syntax=docker/dockerfile:1
# Production image: gunicorn by default; the same image runs the Celery worker and beat (docker-compose.yml).

# --- Front-end libraries from the npm registry (package-lock.json); nothing is fetched from a CDN. ---
FROM node:20-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- Application ---
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    PRM_VAR_DIR=/app/var
WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN mkdir -p prm && touch prm/__init__.py README.md \
    && pip install . \
    && pip uninstall -y prm-portal \
    && rm -rf prm README.md build *.egg-info

# The project itself (`pip install .` needs the source). PYTHONPATH=/app makes every process (gunicorn,
# celery, manage.py) import the code from /app, next to templates/, static/ and node_modules/.
COPY . .
RUN pip install --no-deps . && rm -rf build *.egg-info
COPY --from=assets /src/node_modules ./node_modules

# Static files are collected at build time and served by WhiteNoise; the settings need only dummy values here.
RUN SECRET_KEY=build ALLOWED_HOSTS='*' DJANGO_SETTINGS_MODULE=prm.settings.production \
    python manage.py collectstatic --noinput -v 0

RUN useradd --system --create-home --uid 10001 --user-group prm \
    && mkdir -p /app/var /app/media \
    && chown -R prm:prm /app/var /app/media
USER prm

ENV DJANGO_SETTINGS_MODULE=prm.settings.production
EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn prm.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --limit-request-field_size 65536 --access-logfile -"]
