# syntax=docker/dockerfile:1
# Multi-stage: build a wheel-complete virtualenv, then copy it into a slim, non-root runtime image.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/wellspring
COPY pyproject.toml README.md LICENSE ./
COPY service ./service
COPY generated ./generated
RUN /opt/wellspring/bin/pip install .

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system wellspring && useradd --system --gid wellspring --home-dir /var/lib/wellspring \
    --create-home wellspring
COPY --from=build /opt/wellspring /opt/wellspring
ENV PATH=/opt/wellspring/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WELLSPRING_ADDR=0.0.0.0:50051 \
    WELLSPRING_DATABASE_URL=sqlite:////var/lib/wellspring/wellspring.sqlite3
# It listens beyond loopback, so it starts only with authentication configured at run time
# (WELLSPRING_AUTH_JWKS=/run/secrets/jwks.json, or WELLSPRING_AUTH_HS256_SECRET), or WELLSPRING_AUTH=none.
USER wellspring
WORKDIR /var/lib/wellspring
EXPOSE 50051
# The probe asks the gRPC health service on the container's own port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD WELLSPRING_ADDR=127.0.0.1:50051 wellspring health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["wellspring"]
CMD ["serve"]
