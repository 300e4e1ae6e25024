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
# manage.py serve, not uvicorn's own command: it starts uvicorn with proxy headers off unless
# TRUSTED_PROXIES names the proxies, and with the project's (redacting) logging. Worker and
# beat run as services of their own (docker-compose), hence --no-workers.
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0", "--port", "8000", "--web-workers", "4", "--no-workers"]
