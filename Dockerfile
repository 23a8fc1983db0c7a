# Dockerfile: wpsgated in a container, built from this source tree on Debian 12 (bookworm-slim).
#
#   podman build -t wpsgate .          (or docker build; --format docker keeps the HEALTHCHECK in podman)
#   podman run -d --name wpsgate \
#     -v /etc/wpsgate/wpsgate.conf:/etc/wpsgate/wpsgate.conf:ro \
#     -v /etc/wpsgate/access-key:/run/secrets/access-key:ro \
#     -v /run/wpsgate:/run/wpsgate -p 9464:9464 wpsgate
#
# Two stages: the first installs the -dev packages and runs configure, make and make install into a
# staging directory; the second has only the runtime libraries, the gateway (wpsgated), its client
# (wpsgate, for `podman exec wpsgate wpsgate status`), a container configuration and a system user.
# The gateway runs as that user (uid and gid 10001), reads the access key from the secret file
# /run/secrets/access-key (mode 0400 or 0600, readable by uid 10001), makes its socket in the volume
# /run/wpsgate for the applications (group wpsgate, 0660) and serves /metrics, /healthz and /readyz on
# port 9464. SIGTERM drains it (limits.shutdown_grace_ms) and it exits 0. docs/operations.md, "Containers".
#
# BASE names the Debian 12 image to build on: debian:bookworm-slim from a registry, or one made from
# Debian's packages (tests/contrib/container.sh: mmdebstrap, then podman import).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake pkg-config ca-certificates \
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev libconfig-dev check \
      libsqlite3-dev libwslay-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
# A git checkout has no configure yet; a release tarball has one.
RUN cd /src && { test -x configure || autoreconf -fi; } \
 && mkdir /build && cd /build \
 && /src/configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var --runstatedir=/run \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && strip /out/usr/sbin/wpsgated /out/usr/bin/wpsgate

FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl libmicrohttpd12 libcurl4 libssl3 libjansson4 libconfig9 libsqlite3-0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 wpsgate \
 && useradd --uid 10001 --gid wpsgate --home-dir /nonexistent --no-create-home --no-log-init \
      --shell /usr/sbin/nologin wpsgate \
 && install -d -m 0750 -o wpsgate -g wpsgate /run/wpsgate /var/lib/wpsgate \
 && install -d -m 0755 /etc/wpsgate /run/secrets
COPY --from=build /out/usr/sbin/wpsgated /usr/sbin/wpsgated
COPY --from=build /out/usr/bin/wpsgate /usr/bin/wpsgate
COPY contrib/container/wpsgate.conf /etc/wpsgate/wpsgate.conf
# access_key_file = "access-key" (a name without '/') is looked up here: the directory where
# `podman run --secret` and Docker Compose secrets put their files, and where the examples mount it.
ENV CREDENTIALS_DIRECTORY=/run/secrets WPSGATE_SOCKET=/run/wpsgate/wpsgate.sock
USER 10001:10001
VOLUME ["/run/wpsgate", "/var/lib/wpsgate"]
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "--unix-socket", "/run/wpsgate/wpsgate.sock", "http://localhost/healthz"]
ENTRYPOINT ["/usr/sbin/wpsgated"]
CMD ["-c", "/etc/wpsgate/wpsgate.conf"]
