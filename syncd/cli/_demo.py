"""``syncd demo``: two sample apps on 127.0.0.1, a config joining them, a check.

No accounts needed: it starts a fake CRM and a fake email tool (both
``syncd.sampleapp``), writes a config directory whose integration joins
them (secrets by ``${env:…}`` reference, as in production), validates it
and runs ``syncd check`` on the integration.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from syncd.sampleapp import AuthMode, SampleApp

_INTEGRATION = """\
# yaml-language-server: $schema=https://syncd.dev/schemas/integration.schema.json
integration: crm-to-newsletter
schedule: every 1 minute
left:
  connector: sampleapp
  object: contacts
  settings: {{url: "{crm}", token: "${{env:SYNCD_DEMO_CRM_TOKEN}}"}}
right:
  connector: sampleapp
  object: contacts
  settings: {{url: "{newsletter}", token: "${{env:SYNCD_DEMO_NEWSLETTER_TOKEN}}"}}
match: {{left: email, right: email}}
create: left_to_right
conflict: newest_wins
fields:
  - {{left: email, right: email}}
  - {{left: first_name, right: first_name}}
  - {{left: last_name, right: last_name}}
  - {{left: phone, right: phone, direction: left_to_right}}
rules:
  - if: "contains(tags, 'vip')"
    then: [{{add_tag: vip}}]
"""

_SYNCD = """\
# yaml-language-server: $schema=https://syncd.dev/schemas/syncd.schema.json
state: {path: state.db}
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run two sample apps on 127.0.0.1 and check an integration between them",
        description=(
            "Start a fake CRM and a fake email tool on 127.0.0.1, write a config directory "
            "joining them, validate it and check both sides. No accounts needed."
        ),
    )
    p.add_argument("--dir", type=Path, default=None,
                   help="write the demo config here and keep it (default: a temporary directory)")
    p.add_argument("--contacts", type=int, default=300, help="contacts in the CRM (default 300)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from syncd.cli import _check  # the demo ends by running the real check command

    with ExitStack() as stack:
        crm_token, news_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        crm = stack.enter_context(SampleApp(n=args.contacts, auth=AuthMode.BEARER, token=crm_token).start())
        news = stack.enter_context(SampleApp(n=args.contacts // 3, seed=7, auth=AuthMode.BEARER,
                                             token=news_token).start())
        os.environ["SYNCD_DEMO_CRM_TOKEN"] = crm_token
        os.environ["SYNCD_DEMO_NEWSLETTER_TOKEN"] = news_token
        directory = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-demo-")))
        _write_config(directory, crm.url, news.url)
        print(f"sample CRM on {crm.url} ({args.contacts} contacts), "
              f"sample email tool on {news.url}; config in {directory}")
        print(f"$ syncd check -c {directory} crm-to-newsletter")
        sys.stdout.flush()
        check_args = argparse.Namespace(
            config_dir=str(directory), target="crm-to-newsletter", object=None, settings=[],
            records=3, all_pages=False, format="text")
        return _check.run(check_args)


def _write_config(directory: Path, crm_url: str, newsletter_url: str) -> None:
    (directory / "integrations.d").mkdir(parents=True, exist_ok=True)
    (directory / "syncd.yaml").write_text(_SYNCD, encoding="utf-8")
    (directory / "integrations.d" / "crm-to-newsletter.yaml").write_text(
        _INTEGRATION.format(crm=crm_url, newsletter=newsletter_url), encoding="utf-8")
