# Multi-stage build of the tracer binary. The image carries no libchdb: in
# containers the tracer talks to a ClickHouse server (TRACER_STORE_DSN).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/tracer ./cmd/tracer

FROM debian:bookworm-slim
COPY --from=build /out/tracer /usr/local/bin/tracer
# The services free and reallocate large buffers batch after batch: with
# MADV_FREE the Go runtime reuses those pages without page faults, at the
# price of an RSS that overstates the live heap (docs/operations.md,
# Process tuning). Override with GODEBUG=madvdontneed=1.
ENV GODEBUG=madvdontneed=0
ENTRYPOINT ["/usr/local/bin/tracer"]
