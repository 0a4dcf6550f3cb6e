# The gridmap service. Map assets come from npm at build time and are served by the app,
# so nothing loads from a CDN at run time.
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim-bookworm
# The package is installed into site-packages; its map assets are where this image puts them.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GRIDMAP_HOST=0.0.0.0 GRIDMAP_PORT=8000 GRIDMAP_MEDIA_DIR=/data/media \
    GRIDMAP_MAP_ASSETS_DIR=/app/node_modules
WORKDIR /app
# pg_dump/pg_restore for `gridmap backup` and `gridmap restore` (bookworm's client is 15, the server's).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY geo geo
COPY api api
COPY maps maps
COPY cli cli
COPY fixtures fixtures
RUN pip install . && useradd --system --home /app gridmap && mkdir -p /data/media && chown -R gridmap /data
COPY --from=assets /src/node_modules node_modules
USER gridmap
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["sh", "-c", "gridmap db migrate && exec gridmap serve"]
