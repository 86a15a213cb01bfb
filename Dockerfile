# syntax=docker/dockerfile:1
# Burgee's container image: one binary and the few shared libraries it loads, FROM scratch.
#
#   Whole build (needs the Rust image):   docker build -t burgee .
#   From a binary already built here:     scripts/image.sh   (target `prebuilt`, see there)
#
# The image runs as the numeric user 65532, keeps its data in the /data volume, needs no
# writable root filesystem and checks itself with `burgee health` (no shell or curl inside).

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm

# ---- build: the release binary, with its dependency list embedded for image scanners ----
FROM ${RUST_IMAGE} AS build
WORKDIR /src
RUN cargo install cargo-auditable --locked --version 0.7.7
COPY . .
RUN cargo auditable build --release --locked \
 && packaging/rootfs.sh target/release/burgee /image

# ---- the runtime's settings, shared by both final images ----
FROM scratch AS runtime-base
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Burgee" \
      org.opencontainers.image.description="Feature flags and remote config in one self-contained binary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Burgee"
ENV BURGEE_LISTEN=0.0.0.0:8000 \
    BURGEE_DATA_DIR=/data \
    BURGEE_LOG_FORMAT=json
EXPOSE 8000
VOLUME ["/data"]
USER 65532:65532
WORKDIR /data
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/burgee", "health", "--quiet"]
ENTRYPOINT ["/burgee"]
CMD ["serve"]

# ---- from a binary built outside: the build context is what packaging/rootfs.sh laid out
# (scripts/image.sh does both) ----
FROM runtime-base AS prebuilt
COPY --chown=0:0 rootfs/ /
COPY --chown=65532:65532 volume/ /

# ---- the default: everything built from source in the build stage ----
FROM runtime-base AS runtime
COPY --from=build --chown=0:0 /image/rootfs/ /
COPY --from=build --chown=65532:65532 /image/volume/ /
