# The GX Pipeline workers and CLI. Built by docker-compose.yml (not buildable on the dev machine,
# which has no Docker engine; the compose file is validated by tests/integration/test_compose.py).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md gxerrors.py ./
COPY gxcommon gxcommon
COPY gxctl gxctl
COPY gxsdk gxsdk
COPY stack stack
COPY schemas schemas
COPY connectors connectors
COPY fabric_gateway fabric_gateway
COPY streams streams
COPY projections projections
COPY monitoring monitoring
RUN pip install --no-cache-dir -c constraints.txt .
USER nobody
ENTRYPOINT ["gxctl"]
CMD ["check"]
