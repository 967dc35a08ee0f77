# chaos-agent image: a static binary on a distroless, non-root base.
#   make image        (docker build --build-arg VERSION=... --build-arg COMMIT=... .)
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so the module layer is reused across source changes.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY agent/ agent/
COPY subscriber/ subscriber/
COPY executor/ executor/
COPY probes/ probes/
COPY policy/ policy/
COPY manifests/ manifests/
COPY runner/ runner/
COPY workflow/ workflow/
COPY internal/ internal/
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/chaos-agent/chaos-agent/internal/version.version=${VERSION} -X github.com/chaos-agent/chaos-agent/internal/version.commit=${COMMIT}" \
      -o /out/chaos-agent ./cmd/chaos-agent

# hack/cluster.sh images builds the same image without Docker (hack/mkimage); the test in
# hack/imagetest checks that both have the same files, user, working directory, entrypoint and labels.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="chaos-agent" \
      org.opencontainers.image.source="https://github.com/chaos-agent/chaos-agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/chaos-agent /usr/local/bin/chaos-agent
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/chaos-agent"]
CMD ["serve"]
