# syntax=docker/dockerfile:1
#
# pcm-sidecar image: `docker build -t pcm-sidecar:0.1.0 -t pcm-sidecar:latest .` (the version of package.json; README,
# "Packaging")
#
#   docker run --rm -p 127.0.0.1:8431:8431 -p 9431:9431 -v pcm-spool:/var/lib/pcm-sidecar \
#     -v "$PWD/certs:/etc/pcm-sidecar/certs:ro" \
#     -e PCM_API_URL=... -e PCM_AUTH_URL=... -e PCM_ORG_ID=... -e PCM_CLIENT_ID=... \
#     -e PCM_CERT_FILE=/etc/pcm-sidecar/certs/client.crt -e PCM_KEY_FILE=/etc/pcm-sidecar/certs/client.key \
#     pcm-sidecar
#
# The process runs as uid/gid 10001: mounted certificate and key files must be readable by it, and a host directory
# bind-mounted on /var/lib/pcm-sidecar must be writable by it (a named volume, as above, is prepared by the image).
# Every PCM_* variable the sidecar knows is listed in docs/configuration.md; an unknown PCM_* variable
# stops the start (exit 78), so do not pass any other variable whose name starts with PCM_.
# Kubernetes manifests: deploy/kubernetes/.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------------------------------
# Build: install every dependency (better-sqlite3 is compiled here when no prebuilt binary can be fetched), compile the
# TypeScript, then drop the dev dependencies so node_modules can be copied into the runtime stage as it is.
FROM ${NODE_IMAGE} AS build

# Toolchain for better-sqlite3's node-gyp fallback.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, in a layer of their own, so a change under src/ does not recompile better-sqlite3.
# `npm ci` would also run this package's own `prepare` script (= npm run build), which needs src/ and tsconfig.json;
# --ignore-scripts skips it here, and `npm rebuild` then runs the dependencies' install scripts (better-sqlite3's
# prebuild-install || node-gyp), but never the root package's scripts. The node image ships the Node headers in
# /usr/local/include/node; pointing node-gyp at them saves downloading them (and works where nodejs.org is unreachable).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && if [ -f /usr/local/include/node/node.h ]; then export npm_config_nodedir=/usr/local; fi \
 && npm rebuild

COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Runtime dependencies only. Keeps the compiled better-sqlite3 binding (it is a production dependency).
RUN npm prune --omit=dev --no-audit --no-fund

# data/ is read at run time (the endpoint catalogue, by the sidecar and the emulator): src/report/catalog.ts and
# src/emulator/validate.ts resolve ../../data/ from dist/report/ and dist/emulator/, so it must sit next to dist/.
COPY data ./data

# ---------------------------------------------------------------------------------------------------------------------
# Runtime: the same base (same glibc and Node ABI as the build stage, which the native binding needs), no toolchain,
# no npm cache, no sources, no dev dependencies.
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it and a volume can be prepared for it.
RUN groupadd --system --gid 10001 pcm \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin pcm \
 && mkdir -p /var/lib/pcm-sidecar \
 && chown 10001:10001 /var/lib/pcm-sidecar \
 && chmod 0750 /var/lib/pcm-sidecar

WORKDIR /app

# Owned by root and not writable by the service user: the process can read its code but not change it.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/data ./data

# The spool lives on a volume so accepted reports survive the container. SQLite keeps spool.db-wal and spool.db-shm
# next to it, so the whole directory must be writable (not just the file). Declared after the chown above so a new
# named volume starts owned by uid 10001.
ENV PCM_SPOOL_PATH=/var/lib/pcm-sidecar/spool.db \
    PCM_INGEST_HOST=0.0.0.0
VOLUME ["/var/lib/pcm-sidecar"]

USER 10001:10001

# 8431: ingest, POST /v1/reports and the other ingest routes (and GET /healthz). Without PCM_INGEST_TOKEN_FILE or
# PCM_INGEST_CLIENT_CA_FILE the ingest has no authentication: publish this port only to the gateway (same pod, same
# private network), never to the outside. An aggregator that agents forward to sets them (README, "Topologies").
# 9431: the admin listener (PCM_ADMIN_PORT): GET /metrics, /healthz, /readyz for scrapers and probes, and the admin
# API under /v1/, off unless PCM_ADMIN_TOKEN_FILE names its bearer tokens.
EXPOSE 8431 9431

# On SIGTERM the sidecar stops accepting, answers requests in flight, finishes or releases in-flight batches and closes
# the spool within PCM_SHUTDOWN_GRACE_MS (25 s). Give it more than that before SIGKILL: `docker stop -t 30`,
# `stop_grace_period: 30s`.
STOPSIGNAL SIGTERM

# Liveness only (/healthz answers 200 while the process serves HTTP and the spool can store). /readyz is not used
# here: it is 503 while a certificate is unusable, and reports are still spooled then. Asks the admin listener
# (plain HTTP, no token for /healthz; PCM_ADMIN_PORT if set), so an aggregator whose ingest wants client
# certificates is probed the same way.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "--no-warnings", "-e", "fetch('http://127.0.0.1:' + (process.env.PCM_ADMIN_PORT || 9431) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/cli.js"]
CMD ["run"]
