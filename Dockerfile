# Build: a static binary, no cgo.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /gatehouse ./cmd/gatehouse

# Run: distroless, as a non-root user, data in /data.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /gatehouse /gatehouse
ENV GATEHOUSE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 9090
USER nonroot:nonroot
ENTRYPOINT ["/gatehouse"]
CMD ["serve"]
