# qrlogin's container image: built with the official Rust image, run on
# distroless (glibc and libgcc, which the binary links, and nothing else: no
# shell, no package manager), as the unprivileged user `nonroot`.
#
#   docker build -t qrlogin .
#   docker run --rm -p 8080:8080 -e QRLOGIN_CONFIG=/etc/qrlogin/demo.toml qrlogin   # the demo
#   docker run --rm -p 8080:8080 -v /etc/qrlogin:/etc/qrlogin:ro qrlogin            # your config
#
# Needs BuildKit (Docker's default builder since 23.0) for the cache mounts.
# README: "Deployment: systemd, Docker, Compose". tests/api/deploy.rs lints
# this file (hadolint, where installed) and checks what it copies.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directories are cache mounts: a rebuild after a
# source change recompiles qrlogin, not its few hundred dependencies. The
# binary is copied out of the mount, which the next stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p qrlogin --bin qrlogin \
    && cp target/release/qrlogin /usr/local/bin/qrlogin

# Debian 12, like the build stage: the binary needs its glibc.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/qrlogin /usr/local/bin/qrlogin
# The default config has no demo accounts and no phone verification: the
# operator supplies [mobile_auth] (mounted file or QRLOGIN_* variables).
COPY deploy/container.toml /etc/qrlogin/config.toml
COPY deploy/container-demo.toml /etc/qrlogin/demo.toml
# Read by `qrlogin` itself, so arguments after the image name are its own:
# `docker run qrlogin hash-secret`.
ENV QRLOGIN_CONFIG=/etc/qrlogin/config.toml
# `nonroot` (the image default, made explicit): numeric, so Kubernetes
# runAsNonRoot can check it.
USER 65532:65532
# server.listen in deploy/container.toml.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/qrlogin"]
