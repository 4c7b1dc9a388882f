"""The REST + WebSocket service: ``create_app(settings)`` builds a FastAPI app (no globals).

Layout (after fastapi/full-stack-fastapi-template): ``deps.py`` (Annotated dependencies),
``errors.py`` (one error body), ``schemas.py`` (Public / ListPublic models), ``routes/``
(one APIRouter per resource), ``ws.py`` (live job progress), ``metrics.py`` (Prometheus).
"""
