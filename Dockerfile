# One image for the manager and the three add-on services: `keda-http <command>` picks the role
# (the rendered Deployments pass `args: [interceptor]`, `[scaler]`, `[operator]`, `[manager]`).
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
# Not built in this repository's CI: its machines have no container engine. Instead the end-to-end
# tests stage this file's image as a directory tree and run the add-on's pods from it, as 65532 in a
# read-only root (hack/image/stage.ts, docs/decisions/image-staged-tree.md): the stager reads these
# instructions and refuses any it cannot reproduce.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only; the image's own Node replaces the `node` dev dependency.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY addon ./addon
COPY manager ./manager
COPY manifests ./manifests
COPY crds ./crds
# Non-root (distroless "nonroot" is 65532), and nothing is written at run time, so the
# Deployments run it with readOnlyRootFilesystem: true.
USER 65532:65532
ENV NODE_ENV=production
ENTRYPOINT ["/nodejs/bin/node", "bin/keda-http.ts"]
