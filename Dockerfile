# syntax=docker/dockerfile:1
# The CI Truth GitHub App service: `ci-truth serve` on port 8080, state in /data (SQLite).
# Build: docker build -t ci-truth .      Run: see docs/deploy.md

# --- build: the project's wheel and its dependencies' wheels --------------------------------
# gcc and expat.h build the C accelerator (bot/core/_fastjunit.c) into the wheel; the final
# image needs only libexpat1, which python:3.11-slim already has (its pyexpat uses it).
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libexpat1-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY bot ./bot
RUN pip wheel --wheel-dir /wheels .

# --- final: only the installed wheels, no sources, no build tools ----------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    CI_TRUTH_DB=/data/ci-truth.db
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels ci-truth \
 && useradd --system --uid 10001 --user-group --home-dir /data --create-home \
            --shell /usr/sbin/nologin ci-truth
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-P", "-m", "bot.healthcheck"]
ENTRYPOINT ["ci-truth"]
CMD ["serve"]
