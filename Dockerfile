# One image for every jobcast service; the command names the service module:
#   docker run IMAGE services.ingest          (the default)
#   docker run IMAGE services.distributor | services.publisher_facebook |
#                    services.publisher_instagram | services.metrics
# The Graph API sandbox is a test double (devtools/, not product): compose builds it as its
# own image, `docker build --target graph-sandbox`; the default target leaves devtools out.
# Configuration is the environment (README "Settings"); each service migrates its own
# schema and creates the topics at start, so there is no separate init step.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml ./
COPY jobcast ./jobcast
COPY jobcast_cli ./jobcast_cli
COPY schemas ./schemas
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS runtime
# No root at run time; the uid is fixed so Kubernetes can check runAsNonRoot.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin jobcast
COPY --from=build /wheels /wheels
# Only the wheels built above can be installed (--no-index): the versions are the ones
# resolved in the build stage, so a pin here would only repeat pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links=/wheels jobcast && rm -rf /wheels
USER 10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    JOBCAST_HTTP_HOST=0.0.0.0
EXPOSE 8081 8082 8083 8084 8085
# SIGTERM (docker stop, Kubernetes) is the graceful stop: in-flight work finishes and
# offsets are committed; give it the grace period the publishers need (PUBLISH_STOP_TIMEOUT).
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m"]
CMD ["services.ingest"]

# Compose's demo stack only: the product plus the sandbox package (devtools/graph_sandbox).
FROM runtime AS graph-sandbox
COPY devtools/__init__.py /opt/jobcast-dev/devtools/__init__.py
COPY devtools/graph_sandbox /opt/jobcast-dev/devtools/graph_sandbox
ENV PYTHONPATH=/opt/jobcast-dev
EXPOSE 8090
CMD ["devtools.graph_sandbox", "--host", "0.0.0.0", "--port", "8090"]

# The product image (the default target): the services, no devtools.
FROM runtime
