"""``unmask serve``: an HTTP service over ``unmask.scan`` (extra ``[server]``: FastAPI, uvicorn).

- ``store``   the durable job table and the API keys (SQLite in WAL mode, or PostgreSQL);
              the table *is* the queue: workers claim rows atomically and hold a lease
- ``worker``  worker processes: claim a job, scan the stored upload, write the report back
- ``app``     the FastAPI application (REST API, web page, /metrics, /healthz)
- ``command`` the ``serve`` and ``keys`` subcommands

Nothing here is imported by ``unmask --help``: FastAPI and psycopg load only when a
subcommand runs.
"""
