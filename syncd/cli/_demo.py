"""``syncd demo``: two sample apps on 127.0.0.1, a config joining them, a sync.

No accounts needed: it starts a fake CRM and a fake email tool (both
``syncd.sampleapp``), writes a config directory whose integration joins
them (secrets by ``${env:…}`` reference, as in production), checks both
sides, runs a first sync, then edits contacts on both sides (a rename, a
conflicting edit, a score that makes a rule fire) and syncs again, showing
what happened each time.

Each step is printed as the command that does the same (``syncd once -c
DIR``).  Without ``--dir`` the config is in a temporary directory deleted
at the end, so the steps say ``DIR``: a path that no longer exists would
be copied and fail.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio

from syncd.config import Config, load_config
from syncd.sampleapp import AuthMode, SampleApp, sample_fields, sample_integration, write_sample_config
from syncd.sync import Cycles, CycleSummary

NAME = "crm-to-newsletter"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="sync two sample apps on 127.0.0.1 and show what happened",
        description=(
            "Start a fake CRM and a fake email tool on 127.0.0.1, write a config directory "
            "joining them, sync them, change contacts on both sides, and sync again. "
            "No accounts needed."
        ),
    )
    p.add_argument("--dir", type=Path, default=None,
                   help="write the demo config and state here and keep them "
                        "(default: a temporary directory, deleted at the end)")
    p.add_argument("--contacts", type=int, default=300, help="contacts in the CRM (default 300)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from syncd.cli import _check  # the demo starts with the real check command

    start = time.perf_counter()
    with ExitStack() as stack:
        crm_token, news_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        crm = stack.enter_context(SampleApp(n=args.contacts, auth=AuthMode.BEARER, token=crm_token).start())
        news = stack.enter_context(SampleApp(n=args.contacts // 3, seed=7, auth=AuthMode.BEARER,
                                             token=news_token).start())
        shared = _share_some_contacts(crm, news)
        os.environ["SYNCD_DEMO_CRM_TOKEN"] = crm_token
        os.environ["SYNCD_DEMO_NEWSLETTER_TOKEN"] = news_token
        directory = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="syncd-demo-")))
        shown = str(directory) if args.dir else "DIR"
        _write_config(directory, crm.url, news.url)
        print(f"A sample CRM on {crm.url} holds {len(crm.store.all())} contacts; a sample email tool "
              f"on {news.url} holds {len(news.store.all())}, {shared} of them with the same emails.")
        if args.dir:
            print(f"The config joining them is in {directory}.\n")
        else:
            print("The config joining them is in a temporary directory, DIR below, deleted when the "
                  "demo ends (`syncd demo --dir DIR` keeps it).\n")
        _step(f"syncd check -c {shown} {NAME}")
        code = _check.run(argparse.Namespace(
            config_dir=str(directory), target=NAME, object=None, settings=[], records=1,
            all_pages=False, format="text"))
        if code:
            return code
        config = load_config(directory)

        _step(f"syncd once -c {shown}    # the first sync: match by email, create what is missing")
        first = _cycle(config)
        print(f"  matched {shared} contacts by email, created {first.created['right']} in the email "
              f"tool and {first.created['left']} in the CRM, updated {sum(first.updated.values())}; "
              f"rule 'score > 90 → hot-lead' tagged the CRM's top leads in the email tool.\n")

        story = _edit_both_sides(crm, news)
        _step(f"syncd once -c {shown}    # after: {story['told']}")
        second = _cycle(config)
        after_crm, after_news = crm.store.find_by_email(story["renamed"]), news.store.find_by_email(story["renamed"])
        conflict_crm = crm.store.find_by_email(story["conflict"])
        hot = news.store.find_by_email(story["hot"])
        print(f"  rename reached the email tool: {after_news['first_name'] if after_news else '?'} "
              f"(CRM: {after_crm['first_name'] if after_crm else '?'})")
        print(f"  conflict settled, newest wins: both sides now say {conflict_crm['first_name'] if conflict_crm else '?'}"
              f" ({second.conflicts} conflict logged with both values)")
        print(f"  rule fired: the email tool's contact is tagged {hot['tags'] if hot else '?'}\n")

        _step(f"syncd once -c {shown}    # nothing changed since")
        third = _cycle(config)
        print(f"  {third.write_count} writes: what syncd wrote came back as its own echo and was not sent back.")
        print(f"\nDone in {time.perf_counter() - start:.1f} s.")
        if args.dir:
            # The commands above ran against apps that stop now, with tokens
            # only this process had: say so rather than invite a rerun.
            print(f"The config and the state are kept in {directory}; the sample apps stopped with "
                  "the demo, so it is a model for your own config, not one to run.")
        return 0


def _step(command: str) -> None:
    print(f"$ {command}")
    sys.stdout.flush()


def _cycle(config: Config) -> CycleSummary:
    async def one() -> CycleSummary:
        with Cycles.open(config) as cycles:
            return await cycles.run(NAME, origin="once")

    summary = anyio.run(one)
    print(f"  {NAME}: read {summary.read['left']} + {summary.read['right']}; created "
          f"{summary.created['left']} left, {summary.created['right']} right; updated "
          f"{summary.updated['left']} left, {summary.updated['right']} right; conflicts "
          f"{summary.conflicts}; errors {summary.errors}")
    return summary


def _share_some_contacts(crm: SampleApp, news: SampleApp) -> int:
    """Give the email tool some of the CRM's people, as real lists overlap."""
    people = crm.store.all()[: len(news.store.all()) // 2]
    for person in people:
        news.store.create({"email": person["email"], "first_name": person["first_name"],
                           "last_name": person["last_name"]})
    return len(people)


def _edit_both_sides(crm: SampleApp, news: SampleApp) -> dict[str, str]:
    contacts = crm.store.all()
    renamed, conflict, cold = contacts[0], contacts[1], next(
        c for c in contacts[2:] if c["custom_fields"]["score"] <= 90)
    crm.store.update(renamed["id"], first_name="Augusta")
    crm.store.update(conflict["id"], first_name="Bob")
    time.sleep(0.01)  # the email tool's edit is the newer one
    news_copy = news.store.find_by_email(conflict["email"])
    if news_copy is not None:
        news.store.update(news_copy["id"], first_name="Robert")
    crm.store.update(cold["id"], custom_fields={"score": 97})
    return {
        "renamed": renamed["email"], "conflict": conflict["email"], "hot": cold["email"],
        "told": "a rename in the CRM, the same contact's first name edited on both sides "
                "(Bob in the CRM, then Robert in the email tool), a lead's score raised to 97",
    }


def _write_config(directory: Path, crm_url: str, newsletter_url: str) -> None:
    write_sample_config(directory, sample_integration(
        crm_url, newsletter_url, name=NAME,
        description="The CRM's contacts and the email tool's subscribers, kept in step.",
        schedule="every 1 minute",
        left_token="${env:SYNCD_DEMO_CRM_TOKEN}", right_token="${env:SYNCD_DEMO_NEWSLETTER_TOKEN}",
        fields=[*sample_fields(), {"left": "plan", "right": "plan", "direction": "left_to_right"}],
        extra={"rules": [{"if": "score > `90`", "from": "left", "then": [{"add_tag": "hot-lead"}]}]},
    ))
