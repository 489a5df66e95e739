"""The `aar` command line.

Every user mistake (bad flag, unknown testbed or method, a store that is missing or
not an aar store) ends in one line on stderr and exit code 2, before anything is
written. Heavy imports (torch, textual) happen only in the commands that need them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import NoReturn

from pydantic import ValidationError

from agents.events import Event, event_to_json
from agents.settings import DEFAULT_TESTBED, AarSettings, CampaignFileError, load_settings
from agents.store import EventStore, StoreError
from sandboxes import SandboxError
from sandboxes.levels import LEVELS, RISKS

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aar", description="A control room for automated alignment research.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a campaign (TUI by default)")
    run.add_argument("--campaign", type=Path, help="campaign file (TOML); flags override it")
    run.add_argument("--agents", type=_positive, help="researchers in parallel (default 3 offline, 9 for claude)")
    run.add_argument("--researcher", help="researcher backend: baseline (offline, default) or claude")
    run.add_argument("--model", help="Claude model (default claude-opus-4-6)")
    run.add_argument("--base-url", help="a Messages API server (also ANTHROPIC_BASE_URL)")
    run.add_argument("--db", type=Path, help="new campaign store (default: ~/.aar/campaigns/<time>.db)")
    run.add_argument("--resume", type=Path, metavar="DB",
                     help="continue a campaign whose engine died or was stopped, from its store")
    run.add_argument("--headless", action="store_true", help="no UI; print progress lines")
    run.add_argument("--testbed", help=f"research problem (default {DEFAULT_TESTBED})")
    run.add_argument("--sandbox", help="sandbox backend (default local)")
    run.add_argument("--isolation", choices=LEVELS,
                     help="the least isolation agent code may run at (default bwrap; weaker ones show agent "
                          "code the host, and need --accept-isolation-risk)")
    run.add_argument("--accept-isolation-risk", metavar="RISK",
                     help="run below bwrap, naming the risk: "
                          + ", ".join(f"{risk} ({level})" for level, risk in RISKS.items()))
    run.add_argument("--experiments", type=_positive, help="scored submissions per agent")
    run.add_argument("--limit", type=_positive, help="use only this many testbed items")
    run.add_argument("--max-wall", type=float, help="wall-clock budget in seconds")
    run.set_defaults(func=cmd_run)

    attach = commands.add_parser("attach", help="open the TUI on a campaign a headless engine runs (or ran)")
    attach.add_argument("path", type=Path)
    attach.add_argument("--viewer", help="your name in the command log (default: user@host)")
    attach.set_defaults(func=cmd_attach)

    review = commands.add_parser("review", help="open a stored campaign read-only")
    review.add_argument("path", type=Path)
    review.set_defaults(func=cmd_review)

    export = commands.add_parser("export", help="print a stored campaign")
    export.add_argument("path", type=Path)
    export.add_argument("--format", choices=("jsonl", "md"), default="jsonl")
    export.set_defaults(func=cmd_export)

    boxes = commands.add_parser("sandboxes", help="manage sandbox containers")
    boxes_commands = boxes.add_subparsers(dest="sandboxes_command", metavar="COMMAND")
    prune = boxes_commands.add_parser("prune", help="remove aar's Docker sandbox containers")
    prune.add_argument("--campaign", help="only this campaign's containers")
    prune.add_argument("--orphans", action="store_true", help="only those whose aar process is gone")
    prune.set_defaults(func=cmd_sandboxes_prune)

    w2s = commands.add_parser("w2s", help="weak-to-strong experiments without agents")
    w2s_commands = w2s.add_subparsers(dest="w2s_command", metavar="COMMAND")
    w2s_run = w2s_commands.add_parser("run", help="run one method over seeds and print PGR")
    w2s_run.add_argument("--testbed", default=DEFAULT_TESTBED)
    w2s_run.add_argument("--method", default="cross_entropy")
    w2s_run.add_argument("--seeds", type=_positive, default=3)
    w2s_run.add_argument("--limit", type=_positive, help="use only this many testbed items")
    w2s_run.add_argument("--weak-labels", choices=("teacher", "shuffled"), default="teacher",
                         help="shuffled: a control, the teacher's labels permuted across rows")
    w2s_run.add_argument("--json", action="store_true", help="print JSON")
    w2s_run.set_defaults(func=cmd_w2s_run)

    w2s_testbeds = w2s_commands.add_parser("testbeds", help="testbeds with sizes, baselines and gaps")
    w2s_testbeds.add_argument("--seeds", type=_positive, default=5)
    w2s_testbeds.add_argument("--json", action="store_true", help="print JSON")
    w2s_testbeds.set_defaults(func=cmd_w2s_testbeds)

    w2s_methods = w2s_commands.add_parser("methods", help="the method library")
    w2s_methods.add_argument("--json", action="store_true", help="print JSON")
    w2s_methods.set_defaults(func=cmd_w2s_methods)

    w2s_prepare = w2s_commands.add_parser("prepare", help="extract and cache a testbed's features")
    w2s_prepare.add_argument("--testbed", default=DEFAULT_TESTBED)
    w2s_prepare.set_defaults(func=cmd_w2s_prepare)
    return parser


def _validate_campaign(settings: AarSettings) -> None:
    import os

    from agents.backend import known_backends
    from experiments.testbeds import resolve_spec
    from sandboxes import check_backend

    if settings.researcher not in known_backends():
        raise UsageError(f"unknown researcher {settings.researcher!r} (known: {', '.join(known_backends())})")
    if settings.researcher == "claude" and not os.environ.get("ANTHROPIC_API_KEY"):
        from agents.claude import missing_key_message

        raise UsageError(missing_key_message())
    resolve_spec(settings.testbed)  # unknown names and unusable user data fail here, not later
    check_backend(settings.sandbox, settings.isolation, settings.accept_isolation_risk)


def _new_store_path(settings: AarSettings, db: Path | None) -> Path:
    if db is None:
        folder = settings.home / "campaigns"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / time.strftime("%Y%m%d-%H%M%S.db")
    if db.exists():
        raise UsageError(f"{db} already exists; a campaign store is never overwritten")
    if not db.parent.is_dir():
        raise UsageError(f"directory {db.parent} does not exist")
    return db


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume is not None:
        return _resume(args)
    settings = load_settings(
        args.campaign,
        agents=args.agents,
        researcher=args.researcher,
        model=args.model,
        base_url=args.base_url,
        testbed=args.testbed,
        sandbox=args.sandbox,
        isolation=args.isolation,
        accept_isolation_risk=args.accept_isolation_risk,
        experiments_per_agent=args.experiments,
        testbed_limit=args.limit,
        max_wall_s=args.max_wall,
    )
    _validate_campaign(settings)
    db = _new_store_path(settings, args.db)
    return _drive(settings, db, headless=args.headless, resume=False)


def _resume(args: argparse.Namespace) -> int:
    given = [flag for flag in ("campaign", "agents", "researcher", "model", "testbed", "sandbox", "isolation",
                               "accept_isolation_risk", "experiments", "limit", "max_wall", "db")
             if getattr(args, flag) is not None]
    if given:
        raise UsageError(f"--resume continues a campaign with its own settings; drop --{given[0].replace('_', '-')}")
    return _drive(None, args.resume, headless=args.headless, resume=True)


def _drive(settings: AarSettings | None, db: Path, *, headless: bool, resume: bool) -> int:
    from agents.lock import EngineLock, StoreLocked

    try:
        lock = EngineLock(db).acquire() if resume else None
    except StoreLocked as exc:
        raise UsageError(str(exc)) from None
    try:
        return asyncio.run(_engine(settings, db, headless=headless, resume=resume, lock=lock))
    finally:
        if lock is not None:
            lock.release()


async def _engine(settings: AarSettings | None, db: Path, *, headless: bool, resume: bool, lock: object) -> int:
    from agents.campaign import Campaign
    from agents.lock import EngineLock
    from agents.resume import ResumeRefused

    if resume:
        # Refuse a campaign that cannot resume before reopening migrates its store (an
        # older aar could no longer open it): its start and finish events say enough.
        async with await EventStore.open(db) as probe:
            outline = [e async for e in probe.read(kinds=("campaign_started", "campaign_finished"))]
        from agents.resume import plan_restore

        try:
            plan_restore(outline)
        except ResumeRefused as exc:
            raise UsageError(str(exc)) from None
        store = await EventStore.reopen(db)
        events = await store.read_all()
        try:
            campaign = Campaign.from_log(store, events)
        except ResumeRefused as exc:
            await store.close()
            raise UsageError(str(exc)) from None
        _validate_campaign(campaign.settings)
    else:
        assert settings is not None
        store = await EventStore.create(db)
        lock = EngineLock(db).acquire()  # a fresh file: nobody else can hold it yet
        events = []
        campaign = Campaign(settings, store)
    settings = campaign.settings
    try:
        if headless:
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
            from agents.headless import run_headless

            await run_headless(campaign, replayed=events)
            return 0
        settings.home.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=settings.home / "aar.log", level=logging.INFO)
        return await _run_tui(campaign, events, store)
    finally:
        await store.close()
        if not resume and isinstance(lock, EngineLock):
            lock.release()


async def _run_tui(campaign: object, replayed: list[Event], store: EventStore) -> int:
    from agents.campaign import Campaign
    from agents.control import EngineControl
    from tui.app import AarApp

    assert isinstance(campaign, Campaign)
    app = AarApp(campaign.bus, EngineControl(campaign), events=replayed, store=store)
    engine = asyncio.create_task(campaign.run(), name="campaign")
    try:
        await app.run_async()
    finally:
        if not engine.done():
            engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)
    db = campaign.store_path
    print(f"campaign store: {db}  (aar review {db}; aar run --resume {db} to continue it)")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    return asyncio.run(_attach(args.path, args.viewer))


async def _attach(path: Path, viewer: str | None) -> int:
    import getpass
    import socket

    from agents.control import StoreControl, StoreTail
    from agents.lock import engine_running
    from tui.app import AarApp

    store = await EventStore.attach(path)
    try:
        events = await store.read_all()
        if not events:
            raise UsageError(f"{path} holds no campaign yet")
        live = engine_running(path)
        tail = StoreTail(store, after_seq=events[-1].seq)
        control = StoreControl(store, tail) if live and not store.readonly else None
        who = viewer or f"{getpass.getuser()}@{socket.gethostname()}"
        app = AarApp(tail, control, events=events, viewer=who, store=store)
        tail.start()
        try:
            await app.run_async()
        finally:
            await tail.close()
    finally:
        await store.close()
    return 0


async def _load_events(path: Path) -> list[Event]:
    async with await EventStore.open(path) as store:
        return await store.read_all()


def cmd_review(args: argparse.Namespace) -> int:
    return asyncio.run(_review(args.path))


async def _review(path: Path) -> int:
    from tui.app import AarApp

    async with await EventStore.open(path) as store:
        events = await store.read_all()
        await AarApp(events=events, store=store).run_async()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    events = asyncio.run(_load_events(args.path))
    from agents.export import markdown_report

    if args.format == "jsonl":
        for event in events:
            sys.stdout.write(event_to_json(event) + "\n")
    else:
        sys.stdout.write(markdown_report(events))
    return 0


def cmd_sandboxes_prune(args: argparse.Namespace) -> int:
    from sandboxes import prune_docker_sandboxes

    removed = prune_docker_sandboxes(args.campaign, orphans_only=args.orphans)
    for name in removed:
        print(f"removed {name}")
    print(f"{len(removed)} container(s) removed")
    return 0


def cmd_w2s_run(args: argparse.Namespace) -> int:
    from experiments import run_w2s

    settings = load_settings()
    result = run_w2s(
        args.testbed,
        args.method,
        seeds=args.seeds,
        cache_dir=settings.cache_dir / "features",
        limit=args.limit,
        weak_labels=args.weak_labels,
    )
    data = result.to_dict()
    if args.json:
        print(json.dumps(data))
    else:
        keys = ("testbed", "method", "weak_labels", "seeds", "acc_weak", "acc_ceiling", "gap", "acc_w2s", "pgr",
                "pgr_interval", "note")
        for key in keys:
            print(f"{key:>12}: {data.get(key)}")
    return 0


def _progress_to_stderr(stage: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        print(f"\r{stage}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr, flush=True)

    return report


def cmd_w2s_testbeds(args: argparse.Namespace) -> int:
    from experiments.testbed_report import format_testbed_table, testbed_reports

    reports = testbed_reports(
        seeds=args.seeds,
        cache_dir=load_settings().cache_dir / "features",
        on_progress=_progress_to_stderr("extracting features"),
    )
    print(json.dumps(reports) if args.json else format_testbed_table(reports))
    return 0


def cmd_w2s_methods(args: argparse.Namespace) -> int:
    from experiments.methods import method_catalog

    catalog = method_catalog()
    if args.json:
        print(json.dumps(catalog))
    else:
        for method in catalog:
            print(f"{method['name']:<20} {method['summary']}  [{method['source']}]")
    return 0


def cmd_w2s_prepare(args: argparse.Namespace) -> int:
    from experiments.testbed_report import prepare_features

    report = prepare_features(
        args.testbed,
        cache_dir=load_settings().cache_dir / "features",
        on_progress=_progress_to_stderr("extracting features"),
    )
    state = "cache hit" if report["cache_hit"] else "extracted"
    print(f"{report['testbed']}: {report['texts']} texts, {state} in {report['seconds']:.2f}s -> {report['cache_dir']}")
    return 0


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message is meant for the user. ExperimentError is looked up only if
    a command imported experiments: importing it (and torch) costs ~1 s that `export`
    and `review` do not need. An `except` clause is evaluated only when something raised."""
    errors: list[type[Exception]] = [UsageError, StoreError, SandboxError, CampaignFileError]
    experiments = sys.modules.get("experiments")
    if experiments is not None:
        errors.append(experiments.ExperimentError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "func"):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args))
    except _user_errors() as exc:
        print(f"aar: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        print(f"aar: error: setting {where}: {message}" if where else f"aar: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
