"""A connector instance: one spec, one object, one set of settings.

Its operations are what the sync layer sees of an app:

    async for page in c.list(): …            every record, page by page
    async for page in c.changes(since): …    records updated after ``since``
    async for page in c.changes(since, sync_token=t): …
                                             or changed since the API gave sync token ``t``
                                             (then c.last_sync_token is the next one)
    await c.get(id) / c.find(field, value)
    await c.create(fields) / c.update(id, fields) / c.delete(id)
    await c.create_many([fields, …]) / c.update_many([(id, fields), …])
    c.under(parent_id)                       a child object's connector, bound to one parent

A page is committed by the caller as a unit, so list-like operations yield
:class:`Page` objects rather than single records.  They read one page
ahead: the next page is asked for while the caller uses this one; with the
operation's ``concurrency`` N (offset and page-number pagination), up to N
pages ahead, still handed over in order (see ``_page_window``).

Every write, single or batch, is built by ``c.request(op, ctx, body)`` and
sent by ``c.sender`` under ``c.label(op)``; batch writes (``_batch``) use
nothing of a connector but its public attributes.
"""

from __future__ import annotations

import builtins  # Connector.list shadows the builtin in annotations
import copy
import dataclasses
import functools
import ssl
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from syncd._secret import Secret, SecretUnavailable, reveal
from syncd.config import ConnectorSpec, Operation, OperationName, SyncTokenExpiry, WebhookCall
from syncd.connector._auth import OAuth2, Static, build_auth
from syncd.connector._batch import alone, create_many, update_many, updates_in_turn
from syncd.connector._errors import (
    AuthError,
    ApiError,
    ConnectorError,
    PaginationError,
    RecordError,
    ResponseError,
    TransportError,
    SyncTokenExpired,
)
from syncd.connector._fields import Extractor, FieldValueError, Record
from syncd.connector._http import Answer, Sender
from syncd.connector._kept_clients import ClientKey, Prepared, parsed_url
from syncd.connector._lookups import LookupTable, ids_in
from syncd.connector._masking import PROCESS_MASKER, SecretMasker, install_log_filter
from syncd.connector._page_window import PageWindow
from syncd.connector._plain_request import plain_request, send_directly
from syncd.connector._pagination import PageRequest, PageRun
from syncd.connector._ratelimit import AccountRegistry
from syncd.connector._result_cap import ResultCap
from syncd.connector._transport import (
    ACCEPT_ENCODING,
    AsyncH11Transport,
    KeptTransport,
    proxy_configured,
    read_capped,
)
from syncd.expr import Expr, Template, difference, to_text


@dataclass(slots=True)
class Page:
    number: int  # 1-based, within this run
    records: list[Record]
    errors: list[RecordError] = field(default_factory=list)
    raw: list[Any] = field(default_factory=list)  # the records as the API gave them


def _by_name(item: tuple[str, Any]) -> str:
    return item[0]


def resolve_settings(spec: ConnectorSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """The given settings plus defaults; a missing required one is an error."""
    settings = dict(given)
    for name, s in spec.settings.items():
        if name not in settings:
            if s.required:
                raise ConnectorError(f"setting {name!r} of connector {spec.name!r} is required")
            settings[name] = s.default
    return settings


def render_path(template: Template, context: Mapping[str, Any]) -> str:
    # Data values (ids) are escaped so that an id with "/" or "?" stays one
    # path segment; config values (settings.*) are taken as written. A part
    # written {{ +id }} keeps its slashes (an id that is a path, as Google's
    # "people/c123"), but never climbs out of its place: no "." or ".."
    # segment, and "?" and "#" are still escaped.
    out = []
    for i, part in enumerate(template.parts):
        if isinstance(part, str):
            out.append(part)
        elif part.variables <= {"settings"}:
            out.append(to_text(part.search(context)))
        elif i in template.keep_slashes:
            text = to_text(part.search(context))
            if any(segment in (".", "..") for segment in text.split("/")):
                raise ConnectorError(f"the value {text!r:.80} of {{{{ +{part.source} }}}} has a '.' or '..' "
                                     "segment: refused in a request path")
            out.append(quote(text, safe="/"))
        else:
            out.append(quote(to_text(part.search(context)), safe=""))
    return "".join(out)


def now_text() -> str:
    """The current time as templates see it (`now`): ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def since_context(since: datetime) -> dict[str, Any]:
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    text = since.isoformat(timespec="milliseconds" if since.microsecond else "seconds")
    return {
        "since": text.replace("+00:00", "Z"),
        "since_epoch": int(since.timestamp()),
        "since_ms": int(since.timestamp() * 1000),
    }



def account_key(spec: ConnectorSpec, settings: Mapping[str, Any]) -> str:
    """The key of the account a connector with these settings uses (see
    :class:`AccountRegistry`), without opening one: the daemon knows which
    API budgets an integration spends before its first cycle."""
    resolved = resolve_settings(spec, settings)
    try:
        base_url = spec.base_url.render_text({"settings": resolved}).rstrip("/")
        return _account_key(spec, base_url, resolved)
    except SecretUnavailable as e:  # loaded for reading only: no key, nor a budget to show
        raise ConnectorError(str(e)) from None


def _account_key(spec: ConnectorSpec, base_url: str, settings: Mapping[str, Any]) -> str:
    credentials = tuple(
        str(reveal(v)) for k, v in sorted(settings.items()) if spec.settings.get(k) and spec.settings[k].secret
    )
    # The key is shown (status, metrics, the status page): a secret a spec
    # puts in its base URL must not be. The digest still tells accounts apart.
    for secret in credentials:
        if secret:
            base_url = base_url.replace(secret, "***")
    return AccountRegistry.account_key(spec.name, base_url, credentials)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (certificate verification on, certifi's CAs) for every
    client: building one costs ~30 ms of CPU, and the daemon opens a client
    per side per cycle (1,000 integrations a minute would spend a core on it).
    Made at the first HTTPS connection, not before."""
    return httpx.create_ssl_context()


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, without its cost on the answers that set no
    cookie (nearly all): httpx extracts cookies from every response through
    two urllib adapters, about 7 % of a no-change cycle's CPU. The standard
    library's jar reads only these two headers, so skipping an answer
    without them changes nothing it would keep."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            super().extract_cookies(response)


# The operations that change the app: their requests carry _WRITE_MARK (the
# label and the connector's write guard), and the guard is asked before each
# leaves. Reads (a search by POST included) carry none. Webhook registration
# is not a record write: the daemon makes it, outside any cycle.
_WRITES = frozenset({"create", "update", "delete", "create_batch", "update_batch"})
_WRITE_MARK = "syncd_write"


async def _guard_write(request: httpx.Request) -> None:
    """The write guard's one seam: httpx calls this as every request
    leaves, each retry's and each redirect's too (a write retried after a
    back-off must ask again), and a request built as a write carries its
    label and its connector's guard (:data:`_WRITE_MARK`): in the request,
    not in the client, because a client outlives a cycle and its guard
    (see :mod:`~syncd.connector._kept_clients`). The guard raises to keep the
    request from leaving."""
    mark = request.extensions.get(_WRITE_MARK)
    if mark is not None and mark[1] is not None:
        mark[1](mark[0])


class Connector:
    def __init__(
        self,
        spec: ConnectorSpec,
        object_name: str,
        settings: Mapping[str, Any],
        *,
        accounts: AccountRegistry | None = None,
        masker: SecretMasker = PROCESS_MASKER,
        transport: httpx.AsyncBaseTransport | None = None,
        fields: Iterable[str] | None = None,
        write_guard: Callable[[str], None] | None = None,
    ) -> None:
        if object_name not in spec.objects:
            raise ConnectorError(f"connector {spec.name!r} has no object {object_name!r}")
        self.spec = spec
        self.object = spec.objects[object_name]
        accounts = accounts if accounts is not None else AccountRegistry()
        # The daemon keeps idle clients across cycles (see _kept_clients): one built
        # for this spec and these settings is taken, given back by aclose.
        self._kept_clients = accounts.clients if transport is None and masker is PROCESS_MASKER else None
        # What depends on the spec and the settings only, made by the first connector of
        # them and kept with the clients (the daemon; a reload forgets it): see Prepared.
        wanted = None if fields is None else frozenset(fields)
        prepared = self._kept_clients.prepared(spec, object_name, settings, wanted) \
            if self._kept_clients is not None else None
        if prepared is None:
            prepared = self._prepare(spec, settings)
        self.settings = prepared.settings
        self.masker = masker
        install_log_filter(masker)
        for value in self.settings.values():
            if isinstance(value, Secret):
                masker.add(value.reveal())
        self.context: dict[str, Any] = {"settings": self.settings}
        self.base_url = prepared.base_url
        self.account = accounts.get(prepared.account_key, spec.rate_limit)
        # Asked before every request that changes the app (see _guard_write).
        self.write_guard = write_guard
        self._client_key: ClientKey = (self.account.key, prepared.settings_key)
        client = self._kept_clients.take(self._client_key, spec) if self._kept_clients is not None else None
        self._given_back = False
        if client is None:
            client = self._client(spec, prepared.headers, accounts, masker, transport)
        if type(client._cookies) is not _Cookies or client._cookies:  # (an empty one is as good as new)
            client._cookies = _Cookies()  # not through the setter, which would copy it into a plain jar
        self.client = client
        self.sender = Sender(self.client, self.account, spec.retry, masker)
        if fields is not None:
            unknown = sorted(set(fields) - set(self.object.fields))
            if unknown:
                raise ConnectorError(f"{spec.name}.{object_name} has no field {unknown[0]!r}")
        self.lookups: dict[str, LookupTable] = {}
        if prepared.extractor is not None:
            self.extractor = prepared.extractor
        else:
            self.extractor = self._extractor(fields)
            if self._kept_clients is not None and not self.lookups:
                # Read-only once made; one with lookup tables (this run's) is made anew each time.
                self._kept_clients.keep_prepared(spec, object_name, settings, wanted,
                                                 dataclasses.replace(prepared, extractor=self.extractor))
        self.last_run_has_more = False  # whether the last page read had a successor
        # The sync token the last list or changes run's answers carried (the
        # spec's `sync_token`): the API's cursor for the next changes read,
        # worth keeping only once every page of the run is committed.
        self.last_sync_token: str | None = None

    @staticmethod
    def _prepare(spec: ConnectorSpec, given: Mapping[str, Any]) -> Prepared:
        """The settings with their defaults, the base URL, the headers, the account's key."""
        settings = resolve_settings(spec, given)
        context = {"settings": settings}
        base_url = spec.base_url.render_text(context).rstrip("/")
        headers = {k: t.render_text(context) for k, t in spec.headers.items()}
        named = {name.lower() for name in headers}  # (a spec's own, in any case, is kept: not sent twice)
        for name, value in (("Accept", "application/json"), ("User-Agent", "syncd"),
                            ("Accept-Encoding", ACCEPT_ENCODING)):  # (what syncd decodes under its limit)
            if name.lower() not in named:
                headers[name] = value
        return Prepared(settings, base_url, headers, _account_key(spec, base_url, settings),
                        repr(sorted(settings.items(), key=_by_name)))

    def _client(self, spec: ConnectorSpec, headers: dict[str, str], accounts: AccountRegistry,
                masker: SecretMasker, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        """A new HTTP client: what it holds depends on the spec and the settings only."""
        if transport is None:
            # The account's connections, kept across cycles (the daemon), or new ones of its own;
            # else (a proxy) httpx's own transport, which honours the proxy.
            kept = accounts.kept_transport(self.account.key, lambda: AsyncH11Transport(_tls_context))
            if kept is not None:
                transport = KeptTransport(kept)
            elif not proxy_configured():
                transport = AsyncH11Transport(_tls_context)
        auth = build_auth(spec.auth, self.context, masker, connector=spec.name,
                          account_key=self.account.key, tokens=accounts.tokens)
        if isinstance(auth, OAuth2):
            auth = self.account.oauth2(auth)
        client = httpx.AsyncClient(
            auth=auth,
            # httpx's own transport reads answers whole, without a limit: read_capped reads them first.
            event_hooks={"request": [_guard_write], "response": [read_capped] if transport is None else []},
            headers=headers,
            timeout=httpx.Timeout(spec.timeout),
            transport=transport,
            follow_redirects=True,
            # Used by httpx's own transport only (a proxy, or a test's).
            verify=_tls_context() if transport is None else True,
        )
        if transport is not None and (auth is None or isinstance(auth, Static)):
            # Its reads skip the client's layers (see _plain_request); a proxy's are httpx's.
            send_directly(client, transport, None if auth is None else auth.apply)
        return client

    def _extractor(self, fields: Iterable[str] | None) -> Extractor:
        """The extractor of the wanted fields (None: every field), with a
        lookup table for each that the API gives as ids."""
        wanted = self.object.fields.values() if fields is None else [self.object.fields[f] for f in fields]
        for f in wanted:
            if f.lookup is not None:
                source = self._sibling(f.lookup.object, f.lookup.field)
                normalise = source.extractor.normaliser(f.lookup.field)
                self.lookups[f.name] = LookupTable(source, f.lookup.field, normalise)
        return Extractor(self.object, fields, {name: t.name for name, t in self.lookups.items()})

    def _sibling(self, object_name: str, field_name: str) -> Connector:
        """This connector of another object of the spec (a lookup's), reading
        one field: it shares this one's HTTP client, account and auth."""
        sibling = copy.copy(self)
        sibling.object = self.spec.objects[object_name]
        sibling.lookups = {}
        sibling.extractor = Extractor(sibling.object, [field_name])
        return sibling

    @property
    def can_create(self) -> bool:
        return "create" in self.object.operations

    @property
    def raw_id(self) -> Expr:
        """Where a raw record's id is (the object's ``id``)."""
        return self.object.id

    def under(self, parent_id: str) -> Connector:
        """This connector of a child object, bound to one parent record: its
        operations render ``{{ parent_id }}`` as *parent_id*. It shares this
        one's HTTP client, account (rate limit, quota) and auth; closing is
        this one's to do."""
        bound = copy.copy(self)
        bound.context = {**self.context, "parent_id": parent_id}
        return bound

    async def __aenter__(self) -> Connector:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._kept_clients is not None:
            # Idle for the next connector of this spec and settings (given back once, however
            # often this is closed); its sockets are the account's kept transport's.
            if not self._given_back:
                self._given_back = True
                self._kept_clients.give_back(self._client_key, self.spec, self.client)
            return
        await self.client.aclose()

    # --- requests -------------------------------------------------------------

    def _operation(self, name: OperationName) -> Operation:
        op = self.object.operations.get(name)
        if op is None:
            raise ConnectorError(
                f"{self.spec.name}.{self.object.name} has no {name!r} operation in its spec",
                operation=name)
        return op

    def _first_request(self, op: Operation, ctx: Mapping[str, Any], body: Any = None) -> PageRequest:
        path = render_path(op.path, ctx)
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        params = {k: v for k, f in op.params.items() if (v := reveal(f(ctx))) is not None}
        if body is None and op.body is not None:
            body = op.body(ctx)
        return PageRequest(url, params, body)

    def _build(self, op: Operation, ctx: Mapping[str, Any], req: PageRequest) -> httpx.Request:
        url = parsed_url(req.url, req.params)
        extensions = {_WRITE_MARK: (self.label(op), self.write_guard)} if op.name in _WRITES else None
        if req.body is None and not op.headers:
            # Most reads: the same request as build_request's, without its merging (see _plain_request).
            plain = plain_request(self.client, op.method, url, extensions)
            if plain is not None:
                return plain
        headers = {k: t.render_text(ctx) for k, t in op.headers.items()} if op.headers else None
        return self.client.build_request(
            op.method, url, headers=headers, json=req.body if req.body is not None else None,
            extensions=extensions,
        )

    def request(self, op: Operation | OperationName, ctx: Mapping[str, Any], body: Any = None) -> httpx.Request:
        """One call of ``op``, ready for :attr:`sender`: its path, params and
        headers rendered with ``ctx`` (this connector's :attr:`context` plus
        the call's variables: ``id``, ``records``…), and as its JSON body
        ``body``, or without one the operation's own ``body:`` rendered with
        ``ctx``.  Every write, single or batch, is built here."""
        if isinstance(op, str):
            op = self._operation(op)
        return self._build(op, ctx, self._first_request(op, ctx, body))

    def label(self, op: Operation | OperationName) -> str:
        """How errors and logs name the operation: ``connector.object.operation``."""
        return f"{self.spec.name}.{self.object.name}.{op if isinstance(op, str) else op.name}"

    async def _call(self, op: Operation, ctx: Mapping[str, Any], body: Any = None,
                    allow_404: bool = False) -> Answer:
        return await self.sender.send(self.label(op), self.request(op, ctx, body), allow_404=allow_404)

    # --- reading --------------------------------------------------------------

    def _records(self, op: Operation, answer: Answer, page: int) -> list[Any]:
        assert op.records is not None
        raw = op.records.search(answer.body)
        if raw is None:
            # An API may leave an empty list out of its answer: one that
            # carries a sync token is a whole answer with no records.
            carries_token = op.sync_token is not None and op.sync_token.search(answer.body) not in (None, "")
            if page == 1 and not _is_empty(answer.body) and not carries_token:
                keys = ", ".join(sorted(answer.body)) if isinstance(answer.body, dict) else type(answer.body).__name__
                raise ResponseError(
                    f"records: {op.records.source!r} found nothing in the response "
                    f"(it has: {keys}); check the operation's records expression",
                    operation=self.label(op))
            return []
        if not isinstance(raw, list):
            raise ResponseError(
                f"records: {op.records.source!r} gave {type(raw).__name__}, not a list",
                operation=self.label(op))
        return raw

    def extract(self, raw: Any, operation: str = "") -> Record:
        try:
            return self.extractor.record(raw)
        except FieldValueError as e:
            rid = ""
            try:
                rid = to_text(self.object.id.search(raw))
            except Exception:  # noqa: BLE001 - the id is only decoration here
                pass
            raise RecordError(
                f"record {rid or '?'}: {e}", operation=operation, record_id=rid, field=e.field,
            ) from None

    async def _pages(self, name: OperationName, extra: Mapping[str, Any] | None = None, *,
                     read_ahead: bool = True, since: datetime | None = None) -> AsyncGenerator[Page, None]:
        op = self._operation(name)
        ctx = {**self.context, "cursor": None, **(extra or {})}

        def render(cursor: Any) -> PageRequest:
            return self._first_request(op, {**ctx, "cursor": cursor})

        label = self.label(op)
        run = PageRun(op.pagination, self._first_request(op, ctx), label, render)
        # max_results: the API's cap on one query (see _result_cap)
        cap = ResultCap(op.pagination, self.object.id, since, label) if op.pagination.max_results else None
        request: PageRequest | None = run.first()
        stop: PaginationError | None = None
        number = 0

        async def fetch(request: PageRequest) -> Answer:
            if run.cursor is not None:
                ctx["cursor"] = run.cursor  # for header templates
            try:
                return await self.sender.send(label, self._build(op, ctx, request), read=True)
            except ApiError as e:
                if op.sync_token_expired is not None and _token_refused(op.sync_token_expired, e):
                    raise SyncTokenExpired(e.message, operation=label, status=e.status,
                                           excerpt=e.excerpt, body=e.body) from None
                raise

        self.last_sync_token = None

        # The next page is asked for as soon as its cursor is known, so that
        # the server prepares it while this one is normalised and used; with
        # `concurrency` N, the N next pages where the pagination can tell
        # their requests (see _page_window).
        window = PageWindow(fetch, lambda r: run.predict(r), op.concurrency)  # (run may be replaced: max_results)
        try:
            while request is not None:
                if number:
                    run.check_cap()  # max_pages: the pages read so far were returned
                number += 1
                try:
                    answer = await window.take(request)
                except ConnectorError as e:
                    if number > 1:  # which page of the read failed (the pages before it were handed over)
                        e.add_context(f"page {number} of the read")
                    raise
                raw = self._records(op, answer, number)
                if op.sync_token is not None and (token := op.sync_token.search(answer.body)) not in (None, ""):
                    self.last_sync_token = to_text(token)  # (an API sends it on the last page)
                request = run.next(answer, raw)
                if cap is not None:
                    raw = cap.take(raw)
                    # A full query may have more behind it, next page or not: an
                    # API that cuts a query at its cap need not say so.
                    if cap.full():
                        try:
                            ctx.update(since_context(cap.next_window()), cursor=None)
                        except PaginationError as e:  # raised once this page is yielded, as max_pages is
                            stop, request = e, None
                        else:
                            pages, run = run.pages, PageRun(op.pagination, self._first_request(op, ctx), label, render)
                            run.pages = pages  # max_pages counts the whole read
                            request = run.first()
                self.last_run_has_more = request is not None or stop is not None
                if request is None:
                    window.drop()  # the end of the data: pages fetched past it are not handed over
                elif read_ahead:
                    cap_left = op.pagination.max_pages - run.pages if op.pagination.max_pages is not None else None
                    await window.fill(request, cap_left)
                if self.lookups:
                    await self._cover(raw)
                records = self.extractor.page(raw)
                errors: list[RecordError] = []
                if records is None:  # a bad value somewhere: read record by record
                    records = []
                    for item in raw:
                        try:
                            records.append(self.extract(item, label))
                        except RecordError as e:
                            errors.append(e)
                yield Page(number, records, errors, raw)
                if stop is not None:
                    raise stop
        finally:
            window.drop()  # the reader stopped or failed: the pages ahead are not wanted

    def list(self, *, read_ahead: bool = True) -> AsyncGenerator[Page, None]:
        """Every page of the ``list`` operation. ``read_ahead``: ask for the
        next page while the caller uses this one (off for a caller that
        wants only the first page)."""
        return self._pages("list", read_ahead=read_ahead)

    def changes(self, since: datetime | None, sync_token: str | None = None) -> AsyncGenerator[Page, None]:
        """The records changed since ``since`` (for templates using ``since``…)
        or since the API gave ``sync_token`` (``{{ sync_token }}``). A token the
        API refuses as the spec's ``sync_token_expired`` says raises
        :class:`SyncTokenExpired`: read everything instead. ``since`` reaches
        back the operation's ``lookback`` further."""
        op = self.object.operations.get("changes")
        lookback = op.lookback_seconds if op is not None else 0.0
        if since is not None and lookback:
            since -= timedelta(seconds=lookback)
        extra = {**(since_context(since) if since is not None else {}), "sync_token": sync_token}
        return self._pages("changes", extra, since=since)

    @property
    def has_changes(self) -> bool:
        return "changes" in self.object.operations

    @property
    def changes_need(self) -> frozenset[str]:
        """What a changes read needs from the last one: ``since`` (a time
        cursor) and/or ``sync_token``; empty without changes."""
        op = self.object.operations.get("changes")
        if op is None:
            return frozenset()
        need = {"since"} if op.uses & {"since", "since_epoch", "since_ms"} else set()
        if "sync_token" in op.uses:
            need.add("sync_token")
        return frozenset(need)

    async def get(self, record_id: str) -> Record | None:
        op = self._operation("get")
        answer = await self._call(op, {**self.context, "id": record_id}, allow_404=True)
        if answer.response.status_code == 404:
            return None
        record = await self._single(op, answer)
        if record is None:
            # Only a 404 says a record is gone. A 2xx without one (an empty
            # body, a `null`, an outage's placeholder) says nothing of it:
            # taken as "gone", it deleted the record on the other side.
            raise ResponseError(
                f"GET of record {record_id} answered HTTP {answer.response.status_code} without a record "
                f"(only a 404 says a record is gone)", operation=self.label(op))
        return record

    async def find(self, field_name: str, value: Any) -> builtins.list[Record]:
        """Records whose field equals value (APIs often search loosely)."""
        normalise = self.extractor.normaliser(field_name)
        wanted = normalise(value)
        found: list[Record] = []
        extra = {"field": field_name, "value": wanted}
        op = self._operation("find")
        if op.warm_up is not None:
            await self._warm_up(op, {**self.context, "cursor": None, **extra})
        async for page in self._pages("find", extra):
            found.extend(r for r in page.records if r.fields.get(field_name) == wanted)
        return found

    async def _warm_up(self, op: Operation, ctx: Mapping[str, Any]) -> None:
        """The find's ``warm_up`` request: its params over the find's own, the
        answer ignored (a search cache brought up to date; an error is an error)."""
        assert op.warm_up is not None
        first = self._first_request(op, ctx)
        params = dict(first.params)
        for k, f in op.warm_up.items():
            value = reveal(f(ctx))
            if value is None:
                params.pop(k, None)
            else:
                params[k] = value
        await self.sender.send(self.label(op), self._build(op, ctx, PageRequest(first.url, params, first.body)),
                               read=True)

    # --- writing --------------------------------------------------------------

    def wire_fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The values to write, checked: every field must exist and be writable.

        Values are in the stored form (see ``_fields``), which is JSON as
        it goes on the wire: nothing to convert."""
        for name in fields:
            spec = self.object.fields.get(name)
            if spec is None:
                raise ConnectorError(f"{self.spec.name}.{self.object.name} has no field {name!r}")
            if not spec.writable:
                raise ConnectorError(f"field {name!r} of {self.spec.name}.{self.object.name} is read-only")
        return dict(fields)

    def write_fields(self, target: dict[str, Any], wire: Mapping[str, Any],
                     current: Any = None) -> dict[str, Any]:
        """``target`` with each value written at its field's write path (``wire`` from wire_fields).

        ``current``: the record as the app holds it (an update that reads
        first). A write path through a list (``emails[?primary].value``)
        then starts from the current list, so that the items syncd does not
        write are sent back as they are: an API that replaces the whole list
        would otherwise drop them."""
        fields = self.object.fields
        for name, value in wire.items():
            path = fields[name].write
            if path is None:
                if fields[name].requests:
                    continue  # written by requests of its own (write_requests), after this one
                # wire_fields refuses it first; this keeps the method safe on its own
                raise ConnectorError(f"field {name!r} of {self.spec.name}.{self.object.name} is read-only")
            prefix = path.list_prefix if current is not None else None
            if prefix is not None and prefix.get(target) is None:
                now = prefix.get(current)
                if isinstance(now, list):
                    prefix.set(target, copy.deepcopy(now))
            path.set(target, value)
        return target

    def body_for(self, op: Operation, ctx: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
        wire = self.wire_fields(fields)
        current = ctx.get("current")
        record = self.write_fields({}, wire, current)
        ctx.update(fields=wire, record=record)
        body = op.body(ctx) if op.body is not None else {}
        if not isinstance(body, dict):
            return record
        return self.write_fields(body, wire, current)

    async def create(self, fields: Mapping[str, Any]) -> Record:
        op = self._operation("create")
        # `now`: a default for a date some APIs require on create (HubSpot's
        # hs_timestamp of a note or task), which a mapped field overrides.
        ctx = {**self.context, "now": now_text()}
        given, fields = fields, await self._to_ids(fields)
        answer = await self._call(op, ctx, self.body_for(op, ctx, fields))
        if op.read_back is not None:
            record: Record | None = await self._read_back(op, op.read_back, answer)
        else:
            record = await self._single(op, answer)
        if record is None:
            raise ResponseError("the API answered without the created record", operation=self.label(op))
        await self.write_requests(record.id, record, record, fields, given)
        return record

    async def _read_back(self, op: Operation, id_expr: Expr, answer: Answer) -> Record:
        """The record a create made, read with ``get`` by the id its answer gives.

        Every failure here comes after the create was sent, so it is a
        ResponseError of the create, never an ApiError: a 4xx from the
        ``get`` must not read as a refused create, whose intent the writer
        would drop (and the record be created twice). The open intent is
        resolved by a lookup next cycle. AuthError and TransportError still
        propagate, as from any call."""
        raw = id_expr.search(answer.body) if answer.body is not None else None
        rid = to_text(raw) if raw is not None and not isinstance(raw, (dict, list, bool)) else ""
        if not rid:
            keys = ", ".join(sorted(answer.body)) if isinstance(answer.body, dict) else type(answer.body).__name__
            raise ResponseError(
                f"read_back: {id_expr.source!r} found no id in the answer (it has: {keys}); the record "
                "may have been created: it is looked up before being created again", operation=self.label(op))
        try:
            record = await self.get(rid)
        except (AuthError, TransportError):
            raise
        except ConnectorError as e:
            raise ResponseError(f"created record {rid}, but reading it back failed: {e}",
                                operation=self.label(op)) from None
        if record is None:
            raise ResponseError(f"created record {rid}, but reading it back with get answered 404 Not Found",
                                operation=self.label(op))
        return record

    async def update(self, record_id: str, fields: Mapping[str, Any]) -> Record | None:
        requested = [n for n in fields if (f := self.object.fields.get(n)) is not None and f.requests]
        own = [n for n in requested if self.object.fields[n].write is None]  # by their request alone
        given, fields = fields, await self._to_ids(fields)
        before: Record | None = None  # the record before the update, when read first
        if own and len(own) == len(fields) and "get" in self.object.operations:
            # Only fields with requests of their own: read the record (their
            # `previous`) rather than send an update with nothing in it.
            op = self._operation("get")
            self.wire_fields(fields)
            answer = await self._call(op, {**self.context, "id": record_id})
        else:
            op = self._operation("update")
            ctx = {**self.context, "id": record_id}
            if op.read_first:
                ctx["current"] = await self._current(record_id)
                if requested:
                    if self.lookups:
                        await self._cover([ctx["current"]])
                    before = self.extract(ctx["current"], self.label("get"))
            answer = await self._call(op, ctx, self.body_for(op, ctx, fields))
        record = await self._single(op, answer)
        rid = record.id if record is not None else record_id
        await self.write_requests(rid, before or record, record, fields, given)
        return record

    async def write_requests(self, record_id: str, before: Record | None, record: Record | None,
                             fields: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        """Send the ``write_request`` of each field in ``fields`` (the values as
        sent, lookups as ids) that has one, after the record's own create or
        update. ``previous`` is the field's value in ``before``: the record
        read first (an update's read_first), else the one the write answered;
        for a lookup field, as ids too. A request ``for_each`` item is sent
        once per item added to the list (or removed from it), as ``item``.
        ``record`` is given the value as ``given``, which the app now holds."""
        for name, value in fields.items():
            requests = self.object.fields[name].requests
            if not requests:
                continue
            previous = before.fields.get(name) if before is not None else None
            table = self.lookups.get(name)
            if table is not None and previous is not None:
                previous = table.known_ids(previous)
            label = f"{self.spec.name}.{self.object.name}.{name}.write_request"
            for request in requests:
                ctx = {**self.context, "id": record_id, "value": value, "previous": previous}
                items = [None] if request.for_each is None else _changed_items(request.for_each, value, previous)
                for item in items:
                    if request.for_each is not None:
                        ctx["item"] = item
                    path = render_path(request.path, ctx)
                    url = path if path.startswith(("http://", "https://")) else self.base_url + path
                    body = request.body(ctx) if request.body is not None else None
                    await self.sender.send(label, self.client.build_request(
                        request.method, url, json=body, extensions={_WRITE_MARK: (label, self.write_guard)}))
            if record is not None:
                record.fields[name] = given[name]

    async def _current(self, record_id: str) -> Any:
        """The record as ``get`` reads it now, raw (an update's ``read_first``).
        A record that is gone fails the update as its own 404 would."""
        op = self._operation("get")
        answer = await self._call(op, {**self.context, "id": record_id})
        raw = op.record.search(answer.body) if op.record is not None else answer.body
        if not isinstance(raw, dict):
            raise ResponseError(f"the record read before the update ({self.label(op)}) is not a JSON object",
                                operation=self.label("update"))
        return raw

    # Batch writes (see _batch): results in input order, one per item; an
    # object without the batch operation is written record by record.

    def has_batch(self, kind: Literal["create", "update"]) -> bool:
        """Whether the spec declares ``create_batch`` / ``update_batch``."""
        return f"{kind}_batch" in self.object.operations

    async def create_many(self, items: Sequence[Mapping[str, Any]]) -> builtins.list[Record | ConnectorError]:
        """Create every item; each result is its Record or the ConnectorError it met.

        AuthError and TransportError propagate (the app refuses us or is
        unreachable): the caller cannot know what the unanswered request did.
        """
        if self._writes_lookups(fields for fields in items):
            return [await alone(self.create(fields)) for fields in items]
        return await create_many(self, items)

    async def update_many(
        self, items: Sequence[tuple[str, Mapping[str, Any]]],
    ) -> builtins.list[Record | None | ConnectorError]:
        """Update every (id, fields); each result is as :meth:`update` gives it, or its error.

        AuthError and TransportError propagate when the first request meets them; met by a
        later one, they are the result of every item not done (see ``_batch``), and the
        results of the updates already made are kept."""
        if self._writes_lookups(fields for _, fields in items):
            return await updates_in_turn(self, items)
        return await update_many(self, items)

    def _writes_lookups(self, items: Iterable[Mapping[str, Any]]) -> bool:
        # A batch body would need every name turned into its id first, and its
        # record-by-record fallback would turn them again: items that write a
        # lookup field are written one by one instead.
        return bool(self.lookups) and any(self.lookups.keys() & fields.keys() for fields in items)

    async def delete(self, record_id: str) -> bool:
        """True if deleted now, False if it was already gone (404)."""
        op = self._operation("delete")
        answer = await self._call(op, {**self.context, "id": record_id}, allow_404=True)
        return answer.response.status_code != 404

    # --- webhook registrations -------------------------------------------------

    async def webhook_call(self, name: str, call: WebhookCall, extra: Mapping[str, Any]) -> Any:
        """One request of the spec's ``webhooks.register`` (*name*: create,
        list or delete) with *extra* variables (``url``, ``id``); its JSON body."""
        ctx = {**self.context, **extra}
        path = render_path(call.path, ctx)
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        body = call.body(ctx) if call.body is not None else None
        request = self.client.build_request(call.method, url, json=body)
        answer = await self.sender.send(f"{self.spec.name}.webhooks.register.{name}", request)
        return answer.body

    async def _single(self, op: Operation, answer: Answer) -> Record | None:
        if answer.body is None:
            return None
        expr: Expr | None = op.record
        raw = expr.search(answer.body) if expr is not None else answer.body
        if raw is None:
            return None
        if self.lookups:
            await self._cover([raw])
        return self.extract(raw, self.label(op))

    # --- lookups (see _lookups) ---------------------------------------------------

    async def _cover(self, raws: builtins.list[Any]) -> None:
        """Every id the lookup fields of these raw records name, in their tables."""
        for name, table in self.lookups.items():
            await table.cover(ids_in(self.object.fields[name].read, raws))

    async def _to_ids(self, fields: Mapping[str, Any]) -> Mapping[str, Any]:
        """The values to write with each lookup field's names as their ids."""
        if not self.lookups or not self.lookups.keys() & fields.keys():
            return fields
        out = dict(fields)
        for name, table in self.lookups.items():
            if name in out:
                out[name] = await table.ids(out[name], name)
        return out


def _token_refused(expiry: SyncTokenExpiry, error: ApiError) -> bool:
    if error.status not in expiry.status:
        return False
    if expiry.when is None:
        return True
    try:
        found = expiry.when.search(error.body)
    except Exception:  # noqa: BLE001 - an error body of an unexpected shape is not a match
        return False
    return found not in (None, False, "", [], {})


def _changed_items(which: str, value: Any, previous: Any) -> builtins.list[Any]:
    """The items ``value`` adds to ``previous`` ("added") or drops from it ("removed")."""
    def items(v: Any) -> builtins.list[Any] | None:
        return v if v is None or isinstance(v, builtins.list) else [v]
    new, old = items(value), items(previous)
    return difference(new, old) if which == "added" else difference(old, new)


def _is_empty(body: Any) -> bool:
    return body is None or body == {} or body == []
