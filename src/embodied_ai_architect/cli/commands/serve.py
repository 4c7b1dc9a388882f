"""`branes serve`: the REST + WebSocket API and the dashboard."""

from __future__ import annotations

import ipaddress

import typer

from embodied_ai_architect.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
        workers: int | None = typer.Option(
            None, min=1, help="Job worker processes (default: EAA_WORKERS or the CPU count)."
        ),
        log_level: str = typer.Option("info", help="uvicorn log level."),
    ) -> None:
        """Serve the API, WebSocket progress and the dashboard (migrates the database first)."""
        import uvicorn

        from embodied_ai_architect.api.app import create_app
        from embodied_ai_architect.settings import get_settings

        settings = get_settings()
        if workers is not None:
            settings = settings.model_copy(update={"workers": workers})
        if settings.api_token is None and not _is_loopback(host):
            # Mutating endpoints are open without a token; never expose that beyond this host.
            raise ConfigError(
                f"refusing to listen on {host} without an API token",
                hint="set EAA_API_TOKEN, or listen on 127.0.0.1",
            )
        from embodied_ai_architect.api.limits import guarded_protocol

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_level=log_level,
            # Header timeout and per-client / total connection caps (see api/limits.py).
            http=guarded_protocol(settings),
            timeout_keep_alive=settings.keep_alive_timeout_s,
        )
