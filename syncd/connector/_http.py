"""Sending one API request: rate limit, retries, errors a human can act on.

Retried, with exponential backoff and full jitter (or the server's
``Retry-After``, in seconds or as an HTTP date): 429, 5xx, timeouts and
connection errors, up to ``retry.max_attempts`` attempts in all.  A POST
(a create) is only retried where the server cannot have acted on it (it
refused the connection, or answered 429 or 503), so a retry never creates a
contact twice; a POST that only reads (a search endpoint) is retried like a
GET.  An answer of 2xx whose body is not JSON (cut short by a proxy, a
gateway's HTML page), and any answer whose body does not decode as its
Content-Encoding says, is retried too when the request is safe to repeat
(not a POST that writes: that one may have been acted on; a create's
outcome is then unknown, and looked up by the next cycle).  An answer
over the size limit and a redirect loop fail at once, named: they would
come back the same.  Any other 4xx is not retried and becomes an
:class:`ApiError` naming the operation, the status and a short, masked
excerpt of the body.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import orjson

from syncd.config import RetrySpec
from syncd.connector._errors import ApiError, AuthError, ResponseError, TransportError
from syncd.connector._masking import SecretMasker
from syncd.connector._plain_request import send as send_plain
from syncd.connector._ratelimit import Account
from syncd.connector._retry_after import parse_retry_after
from syncd.connector._transport import AnswerTooLarge

_EXCERPT = 200

_SAFE_FOR_POST = frozenset({429, 503})


def _log() -> Any:
    # Imported at the first retry: a read that never retries (a bulk read,
    # `syncd check`) does not load the logging stack (~10 ms of start-up).
    import structlog

    return structlog.get_logger("syncd.connector")


def backoff(attempt: int, spec: RetrySpec, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(max, initial * 2**attempt)]."""
    return rand() * min(spec.backoff_max, spec.backoff_initial * (2 ** attempt))


def excerpt(response: httpx.Response, masker: SecretMasker) -> str:
    text = response.content[: _EXCERPT * 4].decode("utf-8", "replace")
    text = " ".join(text.split())
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT] + "…"
    return masker.mask(text)


@dataclass(frozen=True, slots=True)
class Answer:
    response: httpx.Response
    body: Any  # the decoded JSON, or None for an empty body


async def _whole(sending: Awaitable[httpx.Response], request: httpx.Request) -> httpx.Response:
    """*sending*, given the connector's ``timeout`` for the whole request, as its
    schema says: httpx applies it to each wait (connect, each read, each write),
    so a server that trickles its answer (a byte every few seconds: a broken
    proxy, a load balancer) held a request, its cycle and its integration for
    hours. Past it, a :class:`httpx.ReadTimeout` (retried as any timeout)."""
    within = request.extensions.get("timeout", {}).get("read")
    if within is None:
        return await sending
    try:
        async with asyncio.timeout(within):
            return await sending
    except TimeoutError:
        raise httpx.ReadTimeout(f"the answer did not come whole within the timeout ({within:g} s)",
                                request=request) from None


class Sender:
    """Sends requests for one connector instance through its account."""

    def __init__(
        self, client: httpx.AsyncClient, account: Account, retry: RetrySpec,
        masker: SecretMasker, sleep: Callable[[float], Any] = anyio.sleep,
    ) -> None:
        self.client = client
        self.account = account
        self.retry = retry
        self.masker = masker
        self.sleep = sleep
        self.retries = 0  # how many retries this instance made, for reports

    def _describe(self, request: httpx.Request) -> str:
        return self.masker.mask(f"{request.method} {request.url.copy_with(query=None)}")

    async def send(self, operation: str, request: httpx.Request, *, allow_404: bool = False,
                   read: bool = False) -> Answer:
        """``read``: the request only reads (a search by POST), so it is always safe to repeat."""
        attempts = max(1, self.retry.max_attempts)
        is_post = request.method == "POST" and not read
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self.account.slot():
                    response = await _whole(send_plain(self.client, request), request)
            # (httpx's own errors that are not TransportErrors: a DecodingError, a body its
            # Content-Encoding does not decode, garbled on the way as a body that is not JSON is;
            # TooManyRedirects, a loop)
            except (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError,
                    httpx.TooManyRedirects) as e:
                self.account.answered(None)
                safe = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout))
                # an answer too large is as large again, and a redirect loop loops again: not asked twice
                if last or (is_post and not safe) or isinstance(e, (AnswerTooLarge, httpx.TooManyRedirects)):
                    kind = "timed out" if isinstance(e, httpx.TimeoutException) else "failed"
                    raise TransportError(
                        f"{self._describe(request)} {kind} after {attempt + 1} attempt(s): "
                        f"{self.masker.mask(type(e).__name__ + (': ' + str(e) if str(e) else ''))}",
                        operation=operation, outcome_unknown=is_post and not safe,
                    ) from None
                await self._wait(attempt, None, request, type(e).__name__)
                continue
            except AuthError as e:  # the token endpoint refused: name the operation it was for
                if last or not e.retryable:
                    raise AuthError(e.message, operation=operation, status=e.status,
                                    excerpt=e.excerpt, retryable=e.retryable) from None
                await self._wait(attempt, None, request, f"token request: {e.message}")
                continue
            status = response.status_code
            self.account.answered(status, response.headers)
            if status < 400 or (allow_404 and status == 404):
                try:
                    return Answer(response, self._decode(operation, request, response))
                except ResponseError:
                    # A garbled answer is as passing as a 5xx: one page of a
                    # read must not abort a cycle for it.
                    if last or is_post:
                        raise
                await self._wait(attempt, None, request, "a body that is not JSON")
                continue
            retryable = status == 429 or status >= 500
            if retryable and not last and (not is_post or status in _SAFE_FOR_POST):
                await self._wait(attempt, parse_retry_after(response.headers.get("Retry-After")), request,
                                 f"HTTP {status}")
                continue
            raise self._error(operation, request, response, attempt + 1, retryable)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _wait(self, attempt: int, retry_after: float | None, request: httpx.Request, why: str) -> None:
        self.retries += 1
        seconds = retry_after if retry_after is not None else backoff(attempt, self.retry)
        _log().warning("request retried", request=self._describe(request), why=self.masker.mask(why),
                       attempt=attempt + 1, wait=round(seconds, 3), retry_after=retry_after is not None)
        await self.sleep(seconds)

    def _decode(self, operation: str, request: httpx.Request, response: httpx.Response) -> Any:
        content = response.content
        if not content.strip():
            return None
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as e:
            raise ResponseError(
                f"{self._describe(request)} answered HTTP {response.status_code} with a body "
                f"that is not JSON ({e}); it starts: {excerpt(response, self.masker)!r}",
                operation=operation,
            ) from None

    def _error(
        self, operation: str, request: httpx.Request, response: httpx.Response,
        attempts: int, retryable: bool,
    ) -> ApiError:
        status = response.status_code
        text = excerpt(response, self.masker)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        hint = {
            401: "check the credentials (token, API key, client secret)",
            403: "the credentials lack permission for this request",
            404: "check the path and the ids in it",
            429: "the API's rate limit was still exceeded; lower rate_limit.requests_per_second",
        }.get(status, "")
        message = f"{self._describe(request)} answered HTTP {status}{tried}"
        if text:
            message += f": {text}"
        if hint:
            message += f" ({hint})"
        cls = AuthError if status in (401, 403) else ApiError
        try:
            body = orjson.loads(response.content) if response.content.strip() else None
        except orjson.JSONDecodeError:
            body = None
        return cls(message, operation=operation, status=status, excerpt=text, retryable=retryable, body=body)
