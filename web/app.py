"""Web stage: the ASGI application: routes, security headers, the token, errors without tracebacks.

Every response carries a Content-Security-Policy that allows scripts, styles
and images only from the application itself (no inline script, no plugin, no
framing), ``nosniff`` and ``no-referrer``. With a token configured, every
request must carry it: ``Authorization: Bearer TOKEN`` (the API), or the
cookie the ``/login`` form sets (the pages). Bad parameters answer 400 or 422
with a message; an unexpected error answers 500 with one line, never a trace.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from config.model import Settings
from shopwatch import __version__
from shopwatch.errors import ShopwatchError, UsageError
from storage.engine import Store
from web.context import WebContext

log = logging.getLogger("shopwatch.web")

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "shopwatch_token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
OPEN_PATHS = ("/login", "/static/", "/healthz")


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path != "/openapi.json"


def _token_ok(request: Request, token: str) -> bool:
    given = request.cookies.get(COOKIE, "")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    return hmac.compare_digest(given.encode(), token.encode())


class Guard(BaseHTTPMiddleware):
    """The token check and the security headers, on every response."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        ctx: WebContext = request.app.state.shopwatch
        path = request.url.path
        if ctx.token and not path.startswith(OPEN_PATHS) and not _token_ok(request, ctx.token):
            if _wants_html(request):
                response: Response = RedirectResponse("/login", status_code=303)
            else:
                response = JSONResponse(
                    {"detail": "a token is required: Authorization: Bearer TOKEN"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_html(request):
        from web.pages import error_page

        return error_page(request, status, message)
    return JSONResponse({"detail": message}, status_code=status)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(UsageError)
    async def usage(request: Request, exc: UsageError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(ShopwatchError)
    async def ours(request: Request, exc: ShopwatchError) -> Response:
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return _error(request, 503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        if _wants_html(request):
            return _error(request, 422, "; ".join(problems))
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(request, 500, f"internal error ({type(exc).__name__})")


def _install_login(app: FastAPI) -> None:
    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        from web.pages import render

        return render(request, "login.html.j2", {"failed": False})

    @app.post("/login", include_in_schema=False, response_model=None)
    async def login(request: Request) -> Response:
        from web.pages import render

        ctx: WebContext = request.app.state.shopwatch
        body = (await request.body())[:4096].decode("utf-8", "replace")
        given = (parse_qs(body).get("token") or [""])[0]
        if ctx.token and hmac.compare_digest(given.encode(), ctx.token.encode()):
            response = RedirectResponse("/search", status_code=303)
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
            return response
        return render(request, "login.html.j2", {"failed": True}, status=401)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__}


def create_app(settings: Settings, store: Store, *, token: str | None = None) -> FastAPI:
    """The application over ``store``; with ``token``, every request must carry it."""
    from web.api import router as api_router
    from web.pages import router as page_router

    app = FastAPI(
        title="shopwatch",
        version=__version__,
        description="Read-only access to the shopwatch store: articles, stories, watched "
        "entities, figures, events and source health. Every list takes `limit` and `offset` "
        "and answers CSV with `?format=csv` or `Accept: text/csv`.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.shopwatch = WebContext(settings, store, token or None)
    app.add_middleware(Guard)
    _install_errors(app)
    _install_login(app)
    app.include_router(api_router)
    app.include_router(page_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
