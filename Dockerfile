# One image for every Switchboard process: web (ASGI), Celery worker, Celery beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/app/data
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Hashed, compressed static files served by WhiteNoise. The key only lets
# settings load during the build; it is not kept in the image.
RUN SECRET_KEY=build-only-key-not-used-at-run-time-000000 python manage.py collectstatic --noinput \
    && useradd --system --home /app switchboard && chown -R switchboard /app/data
USER switchboard

EXPOSE 8000
# --ws-max-size: contactcenter.consumers.MAX_MESSAGE_BYTES, as `manage.py serve` sets it.
CMD ["uvicorn", "contactcenter.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--ws-max-size", "4096"]
