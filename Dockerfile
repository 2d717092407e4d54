# One image for every Greenlight process (the command chooses which: see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NUMBA_CACHE_DIR=/app/var/numba \
    MPLCONFIGDIR=/app/var/matplotlib \
    GREENLIGHT_AUDIT_ANCHOR_FILE=/app/var/audit-anchors.jsonl

WORKDIR /app
COPY pyproject.toml README.md ./
COPY greenlight greenlight
COPY engine engine
COPY bot bot
COPY router router
COPY charts charts
COPY sim sim
COPY migrations migrations
COPY data data
COPY settings.toml ./
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 --create-home --home-dir /home/greenlight greenlight \
    && mkdir -p /app/var/charts /app/var/log /app/var/numba /app/var/matplotlib \
    && chown -R greenlight:greenlight /app/var

# Code stays root-owned and read-only to the process; only /app/var (charts, logs, numba's
# cache, audit anchors) is writable, and compose keeps it in a volume.
USER greenlight
# Health: each compose service checks its process's /readyz (ports in [metrics]).
CMD ["greenlight", "--help"]
