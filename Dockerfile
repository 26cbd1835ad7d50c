# One image for every StreamMaxing service (migrate, ingest, worker); compose.yaml picks the command.
FROM python:3.12-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY streammaxing ./streammaxing
RUN uv sync --frozen --no-dev
ENV PATH="/app/.venv/bin:$PATH" LOG_FORMAT=json
USER nobody
ENTRYPOINT ["streammaxing"]
