"""``python -m syncd.sampleapp``: run the fake contacts app until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType

from ._app import SampleApp
from ._auth import AuthMode
from ._log import RequestRecord
from ._quota import Quota

_EPILOG = """\
endpoints (all but /_health need the credentials of --auth):
  GET  /cursor/contacts?limit=&after=      cursor in the body (HubSpot style; also GET /contacts)
  POST /search/contacts                    cursor in a JSON body field
  GET  /next/contacts?limit=               absolute next URL in the body
  GET  /link/contacts?page=&per_page=      RFC 8288 Link header (GitHub style)
  GET  /offset/contacts?offset=&count=     offset + total_items (Mailchimp style)
  GET  /pages/contacts?page=&per_page=     page number + total_pages
  GET  /all/contacts                       everything, one page
  GET  /stuck/contacts                     a broken API: same cursor forever
  every list takes updated_after=2024-01-01T00:00:00Z
  GET|PATCH|PUT|DELETE /contacts/ID   POST /contacts   GET /contacts/search?email=
  POST /contacts/batch/create|update  {"inputs": [...]}, at most 100, all or nothing
  POST /oauth/token (oauth2 modes)    GET /_health
  POST /webhooks {url, events}   GET /webhooks   DELETE /webhooks/ID
      each contact change is POSTed to subscribers, signed with --webhook-secret
"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m syncd.sampleapp", epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A fake contacts app (a SaaS CRM stand-in) on 127.0.0.1.")
    ap.add_argument("--n", type=int, default=300, help="number of generated contacts (default 300)")
    ap.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    ap.add_argument("--auth", default="bearer", choices=[m.value for m in AuthMode],
                    help="how API requests authenticate (default bearer)")
    ap.add_argument("--token", default="sample-token",
                    help="API token / API key; also the basic password and the OAuth2 client secret")
    ap.add_argument("--port-file", help="write the bound port to this file once listening")
    ap.add_argument("--seed", type=int, default=0, help="generate different contacts")
    ap.add_argument("--max-page-size", type=int, default=100, help="cap on limit/count/per_page")
    ap.add_argument("--token-ttl", type=float, default=3600.0, help="OAuth2 access token lifetime (s)")
    ap.add_argument("--rotate-refresh-token", action="store_true",
                    help="each refresh issues a new refresh token and revokes the old one")
    ap.add_argument("--quota", type=_positive_int, metavar="LIMIT",
                    help="report a quota of LIMIT requests per window in X-RateLimit-* headers")
    ap.add_argument("--quota-window", type=_positive_float, default=86400.0, metavar="SECONDS",
                    help="the quota's window (default 86400: a day, from 00:00 UTC)")
    ap.add_argument("--webhook-secret", default="sample-webhook-secret",
                    help="the key webhooks to subscribers are signed with (HMAC-SHA256)")
    ap.add_argument("--fault-rate", type=_rate, default=0.0, metavar="SHARE",
                    help="fail this share of requests (0 to 1) at random: 429 with Retry-After, 500, "
                         "503, a slow answer, a dropped connection or a malformed body (default 0)")
    ap.add_argument("--fault-seed", type=int, default=0, help="seed of the random faults (default 0)")
    ap.add_argument("--quiet", "-q", action="store_true", help="do not log each request on stderr")
    return ap


def _positive_int(text: str) -> int:
    value = int(text)  # argparse turns a ValueError into "invalid _positive_int value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: must be between 0 and 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: must be more than 0")
    return value


def _log_request(rec: RequestRecord) -> None:
    query = "&".join(f"{k}={v}" for k, v in rec.query.items())
    status = "dropped" if rec.status is None else rec.status
    print(f'"{rec.method} {rec.path}{"?" + query if query else ""}" {status}', file=sys.stderr, flush=True)


def _credentials(app: SampleApp) -> str:
    mode = app.auth_mode
    if mode is AuthMode.NONE:
        return "auth none"
    if mode is AuthMode.BASIC:
        return f"auth basic, user {app.username}, password {app.password}"
    if mode in (AuthMode.OAUTH2_CLIENT_CREDENTIALS, AuthMode.OAUTH2_REFRESH_TOKEN):
        extra = f", refresh token {app.refresh_token}" if mode is AuthMode.OAUTH2_REFRESH_TOKEN else ""
        return (f"auth {mode.value}, token url {app.url}/oauth/token, "
                f"client id {app.client_id}, client secret {app.client_secret}{extra}")
    return f"auth {mode.value}, token {app.token}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    app = SampleApp(args.n, auth=args.auth, token=args.token, seed=args.seed, port=args.port,
                    max_page_size=args.max_page_size, default_page_size=min(10, args.max_page_size),
                    token_ttl=args.token_ttl, rotate_refresh_token=args.rotate_refresh_token,
                    on_request=None if args.quiet else _log_request,
                    quota=None if args.quota is None else Quota(args.quota, args.quota_window),
                    webhook_secret=args.webhook_secret)
    if args.fault_rate > 0:
        app.faults.randomly(args.fault_rate, seed=args.fault_seed)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        app.start()
    except OSError as exc:
        print(f"sampleapp: cannot listen on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        if args.port_file:
            tmp = f"{args.port_file}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{app.port}\n")
            os.replace(tmp, args.port_file)  # readers never see a half-written file
        faults = f", {args.fault_rate:.0%} of requests fail (seed {args.fault_seed})" if args.fault_rate else ""
        print(f"sampleapp listening on {app.url} ({len(app.store)} contacts, {_credentials(app)}{faults})",
              file=sys.stderr, flush=True)
        while not done.wait(0.5):  # a timeout keeps the wait responsive to signals everywhere
            pass
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
