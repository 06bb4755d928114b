# RedGX gateway image: one image for the web (granian), ws (uvicorn), worker (Dramatiq)
# and migrate services of deploy/docker-compose.yml and the Deployments in deploy/k8s/.
# Python 3.11 is the version the test suite and docs/benchmarks.md ran on.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=redgx_project.settings.production \
    REDGX_STATIC_ROOT=/app/staticfiles \
    HOST=0.0.0.0

WORKDIR /app

RUN groupadd --system --gid 10001 redgx \
    && useradd --system --uid 10001 --gid redgx --home-dir /app --no-create-home --shell /usr/sbin/nologin redgx

# Every package is pinned in base.txt.
# NOTE: no image has been built from this file yet, because the machine it was written on
# has no Docker engine; tests/test_deploy_configs.py checks it by parsing only.
COPY requirements/base.txt requirements/base.txt
RUN pip install --no-compile -r requirements/base.txt

COPY --chown=root:root . .

# collectstatic only copies files. The placeholder values satisfy the production settings'
# required variables for this one command and stay out of the image's environment.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only-not-a-real-key \
    DJANGO_ALLOWED_HOSTS=build \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDGX_DATA_REDIS_URL=redis://127.0.0.1:1/0 \
    REDGX_INFERENCE_REDIS_URL=redis://127.0.0.1:1/1 \
    python manage.py collectstatic --noinput \
    && python -m compileall -q apps redgx_project

USER redgx:redgx

# 8000: granian (PORT), 8001: uvicorn (WS_PORT), 9191: the worker's metrics (REDGX_WORKER_METRICS_PORT).
EXPOSE 8000 8001 9191

CMD ["python", "deploy/web.py"]
