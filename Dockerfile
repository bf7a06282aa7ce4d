# One image for every service; SERVICE picks which one runs (api, backup-worker, scan-worker, update-worker).
FROM node:20-bookworm-slim AS base
# restic is the backup repository engine (docs/BACKUPS.md); the API and the backup worker run it as a child process.
RUN apt-get update && apt-get install -y --no-install-recommends restic ca-certificates && rm -rf /var/lib/apt/lists/*
RUN npm i -g pnpm@12.4.2
WORKDIR /app

# Dependencies first, so a code change does not refetch them.
FROM base AS deps
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch --prod

FROM deps AS build
COPY . .
RUN pnpm install --offline --frozen-lockfile --prod

FROM base AS runtime
ENV NODE_ENV=production
COPY --from=build --chown=node:node /app /app
USER node
ARG SERVICE=api
ENV SERVICE=${SERVICE}
# The API runs its TypeScript through tsx (a production dependency); each worker's `start` first bundles it
# into dist/main.mjs with esbuild (scripts/build-service.mjs) and runs that: less resident memory (docs/PERFORMANCE.md).
CMD ["sh", "-c", "exec pnpm -C services/$SERVICE start"]
