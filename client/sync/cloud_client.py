"""The client's HTTP calls to the cloud memory service (httpx), with retries.

Connection errors, timeouts, 429 and 5xx are retried with backoff and jitter (a
Retry-After is honoured, capped); what still fails is CloudUnavailable, which the
sync loop answers by backing off. A refusal the writer must fix (a bad token, a
bad URL) is CloudRefused, with the fix in its message.
"""

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from shared.errors import HybridRAGError
from shared.protocol import API_PREFIX, Health, MemoryDelta, MemoryRequest, MemoryRequestAccepted, RequestStatus
from shared.retry import RETRIED_STATUS, backoff_delay, retry_after_seconds
from shared.settings import ClientSettings

Answer = TypeVar("Answer", bound=BaseModel)
LOGIN_HINT = "run `hybridrag login URL TOKEN` (a token comes from `hybridrag cloud token create TENANT`)"


class CloudUnavailable(HybridRAGError):
    """The cloud could not be reached or kept failing: try again later."""


class CloudRefused(HybridRAGError):
    """The cloud answered, and said no: retrying will not help."""


class VersionAhead(CloudRefused):
    """The local memory is at a version the cloud has never had (its data was reset): resync from 0."""


class CloudClient:
    def __init__(
        self, base_url: str, token: str, timeout_s: float, max_retries: int, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}
        )

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> "CloudClient":
        if not settings.cloud_url or settings.token is None:
            raise CloudRefused(f"No cloud memory service is set: {LOGIN_HINT}.")
        return cls(settings.cloud_url, settings.token.get_secret_value(), settings.timeout_s, settings.max_retries)

    def health(self) -> Health:
        return self._call("GET", "/healthz", Health)

    def request_memory(self, context: str, query: str | None = None) -> MemoryRequestAccepted:
        body = MemoryRequest(context=context, query=query).model_dump(exclude_none=True)
        return self._call("POST", f"{API_PREFIX}/memory/requests", MemoryRequestAccepted, json=body)

    def request_status(self, request_id: str) -> RequestStatus:
        return self._call("GET", f"{API_PREFIX}/requests/{request_id}", RequestStatus)

    def memory_delta(self, since: int) -> MemoryDelta:
        return self._call("GET", f"{API_PREFIX}/memory", MemoryDelta, params={"since": since})

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, answer: type[Answer], **request: object) -> Answer:
        problem = ""
        for attempt in range(self._max_retries + 1):
            try:
                response = self._http.request(method, path, **request)  # type: ignore[arg-type]
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                wait = None
            else:
                if response.status_code < 400:
                    return _parse(response, answer, self.base_url)
                if response.status_code not in RETRIED_STATUS:
                    raise _refusal(response, self.base_url)
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            if attempt < self._max_retries:
                self._sleep(wait if wait is not None else backoff_delay(attempt + 1))
        raise CloudUnavailable(
            f"The memory service at {self.base_url} did not answer after {self._max_retries + 1} tries ({problem}). "
            "Suggestions go on from local memory; check that `hybridrag cloud serve` is running there."
        )


def _parse(response: httpx.Response, answer: type[Answer], base_url: str) -> Answer:
    try:
        return answer.model_validate_json(response.content)
    except ValidationError:
        raise CloudRefused(
            f"{base_url} answered {response.request.url.path} with something that is not HybridRAG's protocol: "
            "is the cloud URL right, and is the server the same HybridRAG version?"
        ) from None


def _refusal(response: httpx.Response, base_url: str) -> CloudRefused:
    try:
        detail = str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        detail = response.text[:200]
    code = response.status_code
    if code == 401:
        return CloudRefused(f"The memory service at {base_url} refused the token ({detail}): {LOGIN_HINT}.")
    if code == 409:
        return VersionAhead(f"The memory service at {base_url} is behind the local memory ({detail}).")
    if code == 404 and response.request.url.path.endswith("/healthz"):
        return CloudRefused(f"{base_url} is not a HybridRAG memory service (no /healthz): check the URL.")
    return CloudRefused(
        f"The memory service at {base_url} refused {response.request.url.path} (HTTP {code}: {detail})."
    )
