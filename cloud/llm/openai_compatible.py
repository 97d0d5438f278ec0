"""Any OpenAI-compatible endpoint: vLLM, llama.cpp's server, OpenAI, ...

Base models are called through /v1/completions with the writer's prompt as it is.
Chat-only models get the same prompt as one user message, after a system message
that asks for the continuation alone, through /v1/chat/completions.

Transient failures (connection errors, timeouts, 429 and 5xx) are retried with
exponential backoff and jitter; what still fails is LLMUnavailable, so the writer
can fall back instead of failing the request.
"""

import time

import httpx

from cloud.llm.backend import LLMUnavailable
from shared.retry import RETRIED_STATUS, backoff_delay
from shared.settings import OpenAIEndpoint, OpenAISettings

CHAT_SYSTEM_MESSAGE = (
    "Continue the user's text exactly where it stops. Reply with the continuation only: no preamble, no quotes."
)


class OpenAICompatibleLLM:
    name = "openai"

    def __init__(self, settings: OpenAISettings) -> None:
        self._settings = settings
        headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"} if settings.api_key else {}
        self._http = httpx.Client(base_url=settings.base_url.rstrip("/"), headers=headers, timeout=settings.timeout_s)

    def complete(self, prompt: str, max_tokens: int, stop: list[str]) -> str:
        body: dict[str, object] = {"model": self._settings.model, "max_tokens": max_tokens, "temperature": 0.0}
        if stop:
            body["stop"] = stop
        chat = self._settings.endpoint is OpenAIEndpoint.CHAT
        if chat:
            body["messages"] = [{"role": "system", "content": CHAT_SYSTEM_MESSAGE}, {"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        problem = ""
        for attempt in range(self._settings.max_retries + 1):
            if attempt:
                time.sleep(backoff_delay(attempt))
            try:
                response = self._http.post("/chat/completions" if chat else "/completions", json=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRIED_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise LLMUnavailable(
                    f"The LLM at {self._settings.base_url} refused the request (HTTP {response.status_code}: "
                    f"{response.text[:200]}). Check cloud.openai.model, cloud.openai.api_key and cloud.openai.endpoint "
                    "(chat for chat-only models)."
                )
            return _answer_text(response, self._settings.base_url, chat)
        raise LLMUnavailable(
            f"The LLM at {self._settings.base_url} did not answer after {self._settings.max_retries + 1} tries "
            f"({problem}). Check that it is running and cloud.openai.base_url points at its /v1."
        )

    def close(self) -> None:
        self._http.close()


def _answer_text(response: httpx.Response, base_url: str, chat: bool) -> str:
    try:
        choice = response.json()["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        kind = "chat completion" if chat else "completion"
        raise LLMUnavailable(f"The LLM at {base_url} sent an answer that is not an OpenAI {kind}.") from None
    if not isinstance(text, str):
        raise LLMUnavailable(f"The LLM at {base_url} sent a completion whose text is not a string.")
    return text
