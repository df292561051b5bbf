# Tickler API server. Build: docker build -t tickler .   Run: see docker-compose.yml.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
# Dev dependencies are kept: tsx runs the TypeScript sources and prisma generates the client.
RUN npm ci --include=dev --no-audit --no-fund

COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
RUN PRISMA_SCHEMA_ENGINE_BINARY=/bin/false npx prisma generate
COPY src ./src

USER node
EXPOSE 4000
# Applies pending migrations (MIGRATE_ON_START=true), then serves /graphql, /health and /ready.
CMD ["npx", "tsx", "src/server/main.ts"]
