FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY content ./content
COPY storage ./storage
RUN pip install --no-cache-dir . && useradd --create-home repbot
USER repbot
ENTRYPOINT ["repbot"]
CMD ["run"]
