"""The HTTP API: a thin FastAPI layer over the CloudService.

Every body is a model from ``shared.protocol``; every route but /healthz needs a
bearer token, and sees only its tenant's requests and memory.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.memory.request_queue import QueueFull
from cloud.service import CloudService
from shared.protocol import (
    API_PREFIX,
    ErrorBody,
    Health,
    MemoryDelta,
    MemoryRequest,
    MemoryRequestAccepted,
    Metrics,
    RequestStatus,
)

QUEUE_FULL_RETRY_AFTER_S = 5
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 422, 429)}


class BodySizeLimit:
    """413 for a body over ``max_bytes``, whether its length is declared or it is streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": self._too_large()}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
            return await response(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        return f"Request body larger than {self.max_bytes} bytes (cloud.max_body_bytes): send less context."


def create_app(service: CloudService, run_worker: bool = True) -> FastAPI:
    """The API over ``service``; with ``run_worker`` the app starts and stops the worker with itself."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_worker:
            service.start()
        yield
        if run_worker:
            service.stop()

    # The spec is served below behind the token like everything but /healthz; no browsable docs pages.
    app = FastAPI(
        title="HybridRAG cloud memory service",
        version=version("hybridrag"),
        lifespan=lifespan,
        responses=_ERRORS,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=service.settings.cloud.max_body_bytes)
    bearer = HTTPBearer(auto_error=False)

    def tenant(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if credentials is None:
            raise _unauthorized(
                "Missing bearer token: send 'Authorization: Bearer <token>' "
                "(make one with: hybridrag cloud token create TENANT)."
            )
        found = service.tokens.tenant_for(credentials.credentials)
        if found is None:
            raise _unauthorized("Unknown token: check the token, or make a new one with hybridrag cloud token create.")
        return found

    Tenant = Annotated[str, Depends(tenant)]

    @app.exception_handler(RequestValidationError)
    async def explain_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()]
        return JSONResponse({"detail": "Invalid request: " + "; ".join(problems)}, status_code=422)

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(version=version("hybridrag"))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_spec(_: Tenant) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/metrics", response_model=Metrics)
    def metrics(caller: Tenant) -> Metrics:
        """Counts over every tenant: for operators only (cloud.operator_tenants), so tenants learn nothing of others."""
        if caller not in service.settings.cloud.operator_tenants:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Metrics are for operators: use a token of a tenant in "
                "cloud.operator_tenants (hybridrag cloud token create operator).",
            )
        return service.metrics()

    @app.post(
        f"{API_PREFIX}/memory/requests", status_code=status.HTTP_202_ACCEPTED, response_model=MemoryRequestAccepted
    )
    def request_memory(body: MemoryRequest, caller: Tenant) -> MemoryRequestAccepted:
        """Ask the worker to write notes for this context; poll the request or sync memory for them."""
        try:
            accepted = service.dispatcher.submit(caller, body)
        except QueueFull as full:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS, str(full), headers={"Retry-After": str(QUEUE_FULL_RETRY_AFTER_S)}
            ) from None
        return MemoryRequestAccepted(request_id=accepted.request_id, state=accepted.state)

    @app.get(f"{API_PREFIX}/requests/{{request_id}}", response_model=RequestStatus)
    def request_status(request_id: str, caller: Tenant) -> RequestStatus:
        found = service.log.status(caller, request_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"No memory request {request_id} for your tenant.")
        return found

    @app.get(f"{API_PREFIX}/memory", response_model=MemoryDelta)
    def memory_delta(
        caller: Tenant,
        since: Annotated[int, Query(ge=0, description="The version the client has; 0 for everything.")] = 0,
        limit: Annotated[int | None, Query(ge=1, description="Notes per page, at most the server's page size.")] = None,
    ) -> MemoryDelta:
        latest = service.log.version(caller)
        if since > latest:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"since={since} is ahead of this server's memory version {latest} for your tenant "
                "(its memory was reset): sync again from since=0.",
            )
        page = min(limit or service.settings.cloud.delta_page_notes, service.settings.cloud.delta_page_notes)
        delta = service.log.delta(caller, since, page)
        indexing = service.indexing
        return delta.model_copy(update={"indexing": indexing}) if indexing is not None else delta

    return app


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def app_from_settings() -> FastAPI:
    """The app for one of several uvicorn worker processes, from the settings in the environment."""
    from shared.settings import load_cloud_settings

    service = CloudService(load_cloud_settings())
    service.warm_up()
    return create_app(service)
