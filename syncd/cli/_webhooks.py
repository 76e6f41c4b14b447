"""``syncd webhooks INTEGRATION register|list|remove``: an app's webhook subscriptions.

Through the calls the side's connector spec declares under
``webhooks.register`` (create, list, delete), with the side's settings,
secrets resolved as ``syncd check`` resolves them. ``register`` asks the
app to call ``--url`` (default: the daemon's own route on
``webhooks.listen``, ``http://HOST:PORT/webhooks/INTEGRATION/SIDE``, which
an app elsewhere cannot reach: give the public URL that leads there);
``remove`` removes the registrations with that URL, or ``--id``. A spec
without ``register:`` exits 1 saying so.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

from syncd.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_config_dir_argument, error
from syncd.cli._local import integration_config
from syncd.config import Config, WebhookRegister
from syncd.config import Side as SideConfig
from syncd.connector import PROCESS_MASKER, AccountRegistry, Connector, ConnectorError
from syncd.expr import to_text


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "webhooks", help="register, list or remove an app's webhooks to syncd (when its spec says how)",
        description="Register, list or remove the webhooks an integration's app sends to syncd, "
                    "through the calls its connector spec declares (webhooks.register).",
        epilog=f"exit status: {EXIT_OK} done; {EXIT_FAILED} the app refused or the spec declares no "
               f"registration; {EXIT_USAGE} an unknown integration, bad usage; 78 an invalid config.")
    add_config_dir_argument(p)
    p.add_argument("integration", metavar="INTEGRATION")
    p.add_argument("action", choices=("register", "list", "remove"))
    p.add_argument("--side", choices=("left", "right"), default="left",
                   help="the side whose app sends the webhooks (default left)")
    p.add_argument("--url", help="the URL the app calls (register: default the daemon's own route on "
                                 "webhooks.listen; remove: the registrations with this URL)")
    p.add_argument("--id", dest="webhook_id", help="remove: the registration with this id")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "remove" and not (args.url or args.webhook_id):
        error("remove needs --url or --id: which registration to remove")
        return EXIT_USAGE
    config = integration_config(args)
    if isinstance(config, int):
        return config
    integration = config.integrations[args.integration]
    side: SideConfig = integration.left if args.side == "left" else integration.right
    spec = config.connectors[side.connector]
    if spec.webhooks is None or spec.webhooks.register is None:
        what = "no webhooks" if spec.webhooks is None else "no way to register webhooks (webhooks.register)"
        error(f"connector {spec.name!r} declares {what} in {spec.source or 'its spec'}: register the URL in the "
              f"app's own settings, or sync on the schedule")
        return EXIT_FAILED
    url = args.url or _default_url(config, args.integration, args.side)
    try:
        result = anyio.run(_act, config, side, spec.webhooks.register, args.action, url, args.webhook_id)
    except ConnectorError as e:
        error(PROCESS_MASKER.mask(str(e)))
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.action == "register":
        print(f"registered webhook {result['registered']['id']} to {url}")
    elif args.action == "list":
        for hook in result["webhooks"]:
            print(f"{hook['id']}  {hook['url']}")
        print(f"{len(result['webhooks'])} webhook(s)")
    else:
        print(f"removed {len(result['removed'])} webhook(s)" +
              (f": {', '.join(result['removed'])}" if result["removed"] else ""))
    if args.action == "remove" and not result["removed"]:
        return EXIT_FAILED
    return EXIT_OK


def _default_url(config: Config, integration: str, side: str) -> str:
    host, _, port = config.daemon.webhooks_listen.rpartition(":")
    host = host or "127.0.0.1"
    return f"http://{host}:{port}/webhooks/{integration}/{side}"


async def _act(config: Config, side: SideConfig, register: WebhookRegister, action: str, url: str,
               webhook_id: str | None) -> dict[str, Any]:
    spec = config.connectors[side.connector]
    accounts = AccountRegistry.for_state(config.daemon)
    async with Connector(spec, side.object, side.settings, accounts=accounts) as c:
        if action == "register":
            answer = await c.webhook_call("create", register.create, {"url": url})
            return {"registered": {"id": to_text(register.id.search(answer)), "url": url}}
        hooks = await _list(c, register)
        if action == "list":
            return {"webhooks": hooks}
        chosen = [h for h in hooks if (webhook_id and h["id"] == webhook_id) or (not webhook_id and h["url"] == url)]
        for hook in chosen:
            await c.webhook_call("delete", register.delete, {"id": hook["id"]})
        return {"removed": [h["id"] for h in chosen]}


async def _list(c: Connector, register: WebhookRegister) -> list[dict[str, str]]:
    answer = await c.webhook_call("list", register.list, {})
    items = register.list.records.search(answer) if register.list.records is not None else answer
    if not isinstance(items, list):
        raise ConnectorError(f"{c.spec.name}.webhooks.register.list: `records` found no list in the answer")
    return [{"id": to_text(register.id.search(i)), "url": to_text(register.url.search(i))} for i in items]
