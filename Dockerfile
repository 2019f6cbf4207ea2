# Build: a static binary, no cgo.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /gatehouse ./cmd/gatehouse
RUN mkdir -m 0700 /data

# Run: distroless, as a non-root user, data in /data.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /gatehouse /gatehouse
# A named volume takes the ownership of the image's directory, so the
# non-root user can write it.
COPY --from=build --chown=nonroot:nonroot /data /data
ENV GATEHOUSE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 9090
USER nonroot:nonroot
ENTRYPOINT ["/gatehouse"]
CMD ["serve"]
