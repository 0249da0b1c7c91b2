# Builds the Outrigger manager image with a container engine: a static binary on a
# distroless, non-root base. `make image` builds the same layout without one (ko, see
# hack/image): the binary at /ko-app/outrigger, its entrypoint, user 65532, the same
# OCI labels. This project's build machines have no engine and use `make image`.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Cache the module downloads in their own layer.
COPY go.mod go.sum ./
RUN go mod download

COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/
COPY webhooks/ webhooks/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o outrigger .

FROM gcr.io/distroless/static:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.source="https://github.com/outrigger-dev/outrigger" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="outrigger"
WORKDIR /
COPY --from=builder /workspace/outrigger /ko-app/outrigger
USER 65532:65532

ENTRYPOINT ["/ko-app/outrigger"]
