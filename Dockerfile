# syntax=docker/dockerfile:1
# gwserver serving the demo app (examples/base64.js, as `npm start` does):
# the pattern to copy for your own app. See docs/deployment.md.
#
#   docker build -t gwserver-demo .
#   docker run --init --rm -p 8000:8000 --stop-timeout 35 gwserver-demo
#
# Configure it without changing CMD: -e WEB_CONCURRENCY=N (the workers), and
# settings in a config file mounted at /app/gwserver.config.js (an ES module,
# read as ./gwserver.config.js of WORKDIR).
#
# --init: gwserver's master handles TERM, INT, HUP... as PID 1 and waits for
# its own workers, but not for processes orphaned below them (an app's
# child whose worker died), which stay zombies without an init (Docker's
# tini) as PID 1.
# --stop-timeout 35: docker stop sends TERM, then SIGKILL after 10 s by
# default; gwserver's workers have --graceful-timeout (30 s) to finish their
# requests. Give docker stop (-t), compose (stop_grace_period) or Kubernetes
# (terminationGracePeriodSeconds) more than that.

# The base image: Node 20 or newer with npm and a `node` user. Another
# (a mirror's, a pinned digest, a locally built one) with
#   docker build --build-arg NODE_IMAGE=registry.example/node:20-slim .
ARG NODE_IMAGE=node:20-bookworm-slim

# Build: all dependencies, then compile src/ to dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs an install script; the build runs
# below, once src/ is here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Run: production dependencies, the compiled server, the app.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# One worker per CPU the container may use; the default of -w.
ENV WEB_CONCURRENCY=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Your app instead of the demo: COPY it here, and name it in CMD.
COPY examples ./examples
# Where gwserver's unix socket goes when a proxy in another container shares
# it through a volume (compose.yaml): a new volume mounted here takes this
# directory's owner, so that the node user can create its socket.
RUN mkdir -p /run/gwserver && chown node:node /run/gwserver
# Files stay root's: the server may read its code, not change it.
USER node
# The app's port. 9100 (--metrics-bind: /metrics, /healthz, /readyz) is
# left out on purpose, so that docker run -P does not publish it.
EXPOSE 8000
STOPSIGNAL SIGTERM
# /healthz answers while the master runs; fetch, as the image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9100/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The master runs node itself (no npm, no shell in between), so TERM from
# docker stop reaches it. Logs: JSON lines, errors on stderr, access on stdout.
ENTRYPOINT ["node", "dist/cli/bin.js"]
CMD ["-b", "0.0.0.0:8000", "--metrics-bind", "0.0.0.0:9100", "--access-logfile", "-", "examples/base64:application"]
