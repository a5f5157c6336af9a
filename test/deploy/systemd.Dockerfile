# systemd as PID 1 with gwserver's units installed as docs/systemd.md says,
# for test/deploy/systemd.test.ts (podman run --systemd=always). The build
# context is a directory the test assembles: gwserver.tgz (npm pack of this
# checkout, standing in for `npm install gwserver` from the registry),
# systemd/ (the shipped units), app/ (test/deploy/systemd-app's app.js and
# package.json), the config files and client.mjs.
ARG NODE_IMAGE
FROM ${NODE_IMAGE}
# systemd-sysv: /sbin/init. adduser: the docs' user creation; procps: the
# /bin/kill of the units' ExecReload= (neither is in a minbase Debian, both
# are in every standard install). No dbus: systemctl and journalctl talk to systemd over
# its private socket as root.
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv adduser procps \
  && rm -rf /var/lib/apt/lists/*
COPY gwserver.tgz /tmp/gwserver.tgz
COPY systemd/ /tmp/units/
COPY app/ /tmp/app/
COPY gwserver.config.js alpha.config.js beta.config.js /tmp/

# docs/systemd.md, "Installing", command by command (the app's files
# first), as test/integration/systemd-units.test.ts checks: npm installs
# the checkout's tarball in place of the registry's gwserver.
RUN adduser --system --group --home /srv/app gwserver
RUN cp -r /tmp/app/. /srv/app/
RUN cd /srv/app && npm install --no-audit --no-fund /tmp/gwserver.tgz
RUN cd /tmp/units && install -m 0644 gwserver.socket gwserver.service /etc/systemd/system/
RUN cd /tmp && mkdir -p /etc/gwserver && cp gwserver.config.js /etc/gwserver/
# daemon-reload and enable --now need a running systemd: enable alone works
# offline, and the container's boot does the rest.
RUN systemctl enable gwserver.socket gwserver.service

# docs/systemd.md, "Several apps on one host": the template units, two
# instances (alpha, beta) with their apps, configs and TCP ports.
RUN for i in alpha beta; do mkdir -p /srv/$i && cp -r /tmp/app/. /srv/$i/; done
RUN cd /srv/alpha && npm install --no-audit --no-fund /tmp/gwserver.tgz
RUN cd /srv/beta && npm install --no-audit --no-fund /tmp/gwserver.tgz
RUN cd /tmp/units && install -m 0644 gwserver@.service gwserver@.socket /etc/systemd/system/
RUN cd /tmp && cp alpha.config.js beta.config.js /etc/gwserver/
RUN mkdir -p /etc/systemd/system/gwserver@alpha.socket.d && printf '[Socket]\nListenStream=127.0.0.1:8001\n' >/etc/systemd/system/gwserver@alpha.socket.d/tcp.conf
RUN mkdir -p /etc/systemd/system/gwserver@beta.socket.d && printf '[Socket]\nListenStream=127.0.0.1:8002\n' >/etc/systemd/system/gwserver@beta.socket.d/tcp.conf
RUN systemctl enable gwserver@alpha.socket gwserver@alpha.service gwserver@beta.socket gwserver@beta.service
RUN rm -rf /tmp/gwserver.tgz /tmp/units /tmp/app /tmp/*.config.js
# The test's HTTP client, run with podman exec (see client.mjs).
COPY client.mjs /opt/gwtest/client.mjs
CMD ["/sbin/init"]
