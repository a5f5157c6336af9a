# nginx for compose.yaml: Debian's nginx with the shipped site file
# (config/nginx.conf), its upstream the unix sockets of the two gwserver
# services, in the volume they share with nginx.
# Built from the repository root (compose.yaml's context: .), so that the
# site file is the one in config/, not a copy that could drift from it.
#
#   docker build -f deploy/compose/nginx.Dockerfile -t gwserver-nginx .
#
# BASE: any Debian (or Debian-based) image with apt; trixie's nginx is 1.26.
ARG BASE=debian:trixie-slim
FROM ${BASE}
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
  && rm -rf /var/lib/apt/lists/* \
  # Debian's default site would answer the hosts no server_name claims.
  && rm -f /etc/nginx/sites-enabled/default \
  # Logs to the container's output, as the official nginx image does.
  && ln -sf /dev/stdout /var/log/nginx/access.log \
  && ln -sf /dev/stderr /var/log/nginx/error.log
COPY config/nginx.conf /etc/nginx/conf.d/gwserver.conf
# The only change to the shipped file: one upstream socket becomes two, one
# per replica. The build fails if that line is no longer in the file, rather
# than run something else.
RUN grep -q '^    server unix:/run/gwserver/gwserver.sock;$' /etc/nginx/conf.d/gwserver.conf \
  && sed -i 's|^    server unix:/run/gwserver/gwserver.sock;$|    server unix:/run/gwserver/gw1.sock;\n    server unix:/run/gwserver/gw2.sock;|' /etc/nginx/conf.d/gwserver.conf
EXPOSE 80
# QUIT: nginx's graceful stop (TERM is its fast one).
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
