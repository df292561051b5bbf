# Tickler API server (and, with another command, the standalone worker).
# Build: docker build -t tickler .   Run: see docker-compose.yml and the README ("Docker").
#
# Two stages: the first installs everything and compiles src/ to dist/ (with the Prisma client
# generated once, here); the second holds production dependencies and dist/ only. It has no
# TypeScript toolchain, no tsx, and no embedded-PostgreSQL binaries (optional dependencies, omitted):
# the image always runs against DATABASE_URL.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: `prepare` would build before the sources are copied; the build runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
# tini as PID 1: forwards SIGTERM/SIGINT to node and reaps zombies; node handles the signals itself
# (graceful drain, exit 0). `docker run --init` would do the same.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    TICKLER_DATA_DIR=/var/lib/tickler
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The SQL migrations, applied at start (MIGRATE_ON_START=true) or with `node dist/cli/migrate.js`.
COPY --from=build /app/prisma ./prisma
# The application files stay root-owned (read-only to the app); the one writable folder is the data folder.
RUN mkdir -p /var/lib/tickler && chown node:node /var/lib/tickler
USER node
VOLUME /var/lib/tickler
EXPOSE 4000
ENTRYPOINT ["/usr/bin/tini", "--"]
# Applies pending migrations (MIGRATE_ON_START=true), then serves /graphql, /health, /ready and /metrics.
CMD ["node", "dist/server/main.js"]
