"""The command line: parse arguments, call one library function, show, map errors.

Nothing below the CLI prints to the terminal or exits; exit codes come from the
error classes in `errors.py` and are documented in README.md. Renderings for people
are in `views.py`, flags in the option groups of `options.py`.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from werfpull import __version__
from werfpull.atomic import write_atomic
from werfpull.cli import views
from werfpull.cli.options import ApplyGroup, PlanGroup, ProjectGroup, RegistryGroup, add_format
from werfpull.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, WerfpullError
from werfpull.tools import process

log = logging.getLogger("werfpull")


def cmd_signatures(args) -> int:
    from werfpull.commands.signatures import signatures

    project = signatures(args.dir, args.config, RegistryGroup.build(args))
    sys.stdout.write(views.signatures_json(project.config.project, project.signed)
                     if args.format == "json" else
                     views.signatures_text(project.config.project, project.signed))
    return 0


def cmd_config_render(args) -> int:
    from werfpull.commands.config import render

    sys.stdout.write(render(args.dir, args.config))
    return 0


def cmd_plan(args) -> int:
    from werfpull.commands.plan import plan

    result = plan(PlanGroup.build(args))
    if args.out:
        write_atomic(args.out, result.dumps())
    sys.stdout.write(result.dumps() if args.format == "json" else views.plan_text(result))
    return 0


def _progress(verb: str):
    def report(event) -> None:
        line = views.event_line(event, verb)
        if line:
            print(f"werfpull: {line}", file=sys.stderr, flush=True)
    return report


def _announce(plan, dest: str) -> None:
    print(f"werfpull: {views.announce(plan, dest)}", file=sys.stderr, flush=True)


def cmd_pull(args) -> int:
    from werfpull.commands.pull import pull

    req, opts = PlanGroup.build(args), ApplyGroup.build(args)
    state = {}

    def planned(plan):
        state["plan"] = plan
        _announce(plan, plan.dest)

    def run():
        return pull(req, jobs=opts.jobs, planned=planned, report=_progress("pull"))[1]
    return _run_reporting(run, state, args.format)


def _run_reporting(run, state: dict, fmt: str) -> int:
    from werfpull.errors import TransferFailed

    try:
        outcome = run()
    except TransferFailed as exc:
        if exc.outcome is not None and "plan" in state:
            sys.stdout.write(views.outcome(state["plan"], state.get("dest", state["plan"].dest),
                                           exc.outcome, fmt))
        raise
    sys.stdout.write(views.outcome(state["plan"], state.get("dest", state["plan"].dest),
                                   outcome, fmt))
    return 0


def cmd_apply(args) -> int:
    process.preload()
    from werfpull.commands.apply import apply

    registry, opts = RegistryGroup.build(args), ApplyGroup.build(args)
    state = {}

    def loaded(plan, dest):
        state.update(plan=plan, dest=dest.spec)
        _announce(plan, dest.spec)

    def run():
        return apply(args.plan, dest=args.dest, repo=args.repo, force=args.force,
                     directory=args.dir, config=args.config, registry=registry,
                     jobs=opts.jobs, retries=opts.retries, report=_progress("pull"),
                     loaded=loaded)[2]
    return _run_reporting(run, state, args.format)


def cmd_script(args) -> int:
    from werfpull.commands.script import script

    req = PlanGroup.build(args) if args.repo is not None else None
    plan, text = script(req, args.plan_file)
    if args.output:
        write_atomic(args.output, text, mode=0o755)
        print(f"werfpull: {views.script_written(args.output, plan)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_build(args) -> int:
    from werfpull.commands.build import build

    def show(result):
        line = views.build_line(result)
        if line:
            print(f"werfpull: {line}", file=sys.stderr, flush=True)

    report = build(args.images, directory=args.dir, config=args.config, repo=args.repo,
                   storage=args.storage, registry=RegistryGroup.build(args), report=show)
    if args.report:
        write_atomic(args.report, json.dumps(report, indent=2) + "\n")
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if args.format == "json"
                     else views.build_summary(report))
    return 0


def cmd_push(args) -> int:
    from werfpull.commands.push import push

    registry, opts = RegistryGroup.build(args), ApplyGroup.build(args)
    outcome = push(args.repo, args.images, directory=args.dir, config=args.config,
                   storage=args.storage, registry=registry, jobs=opts.jobs,
                   retries=opts.retries, report=_progress("push"))
    sys.stdout.write(json.dumps(outcome.to_json(), indent=2) + "\n" if args.format == "json"
                     else views.push_summary(outcome, args.repo))
    return 0


def cmd_cleanup_plan(args) -> int:
    from werfpull.cleanup.make import CleanupRequest
    from werfpull.commands.cleanup import plan

    result = plan(CleanupRequest(repo=args.repo, directory=args.dir, config=args.config,
                                 registry=RegistryGroup.build(args), retries=args.retries))
    if args.out:
        write_atomic(args.out, result.dumps())
    sys.stdout.write(result.dumps() if args.format == "json" else views.cleanup_plan_text(result))
    return 0


def cmd_cleanup_apply(args) -> int:
    from werfpull.commands.cleanup import apply

    def report(tag: str, what: str) -> None:
        print(f"werfpull: {what} {tag}", file=sys.stderr, flush=True)

    _, outcome = apply(args.plan, registry=RegistryGroup.build(args), retries=args.retries,
                       repo=args.repo, directory=args.dir, config=args.config,
                       force=args.force, report=report)
    sys.stdout.write(views.cleanup_outcome(outcome, args.format))
    return 0


def cmd_host_cleanup(args) -> int:
    from werfpull.commands.host_cleanup import host_cleanup

    found, chosen = host_cleanup(storage=args.dest or args.storage, repos=args.repo,
                                 directory=args.dir, config=args.config,
                                 keep_bytes=args.keep_bytes, keep_days=args.keep_days,
                                 dry_run=args.dry_run, registry=RegistryGroup.build(args))
    sys.stdout.write(json.dumps([s.to_json() for s in chosen], indent=2) + "\n"
                     if args.format == "json" else
                     views.host_cleanup_text(found, chosen, args.dry_run))
    return 0


def _add_cleanup(sub) -> None:
    p = sub.add_parser("cleanup", help="delete registry stages no kept commit needs")
    cleanup_sub = p.add_subparsers(dest="cleanup_command", required=True, metavar="SUBCOMMAND")
    p = cleanup_sub.add_parser("plan", help="show what a cleanup keeps and deletes, and why")
    p.add_argument("repo", metavar="REPO", help="stages repository, HOST[:PORT]/PATH")
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.add_argument("--out", help="also write the plan as JSON to this file")
    p.set_defaults(func=cmd_cleanup_plan)
    p = cleanup_sub.add_parser("apply", help="delete exactly what a cleanup plan lists")
    p.add_argument("plan", metavar="PLAN.json")
    p.add_argument("--repo", help="refuse the plan unless it is for this repository")
    p.add_argument("--force", action="store_true",
                   help="apply even if the config or the git references changed since")
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_cleanup_apply)

    p = sub.add_parser("host-cleanup", help="remove local stages the current config no"
                       " longer uses")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--storage", default="containers-storage",
                       help="containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT]")
    where.add_argument("--dest", help="oci:DIR, or a containers-storage store")
    p.add_argument("--repo", action="append", default=[],
                   help="stages named REPO:image-stage-SIG are this project's (repeatable;"
                        " default: localhost/PROJECT/stages)")
    p.add_argument("--keep-bytes", type=int, help="remove, oldest first, down to this size")
    p.add_argument("--keep-days", type=float, help="remove unused stages older than this")
    p.add_argument("--dry-run", action="store_true", help="only show what would go")
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_host_cleanup)


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", default="containers-storage",
                   help="containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="werfpull", description="Pull the stages cache a build needs from a registry.")
    parser.add_argument("--version", action="version", version=f"werfpull {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv: every command run)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("signatures", help="print the stage signatures of every image")
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_signatures)

    p = sub.add_parser("config", help="show the config as werfpull reads it")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    p = config_sub.add_parser("render", help="print werf.yaml rendered to plain YAML")
    ProjectGroup.add(p)
    p.set_defaults(func=cmd_config_render)

    p = sub.add_parser("plan", help="show what a pull would take, without pulling")
    PlanGroup.add(p)
    add_format(p)
    p.add_argument("--out", help="also write the plan as JSON to this file")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("pull", help="plan, then pull the planned stages")
    PlanGroup.add(p)
    ApplyGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("apply", help="pull exactly what a saved plan lists")
    p.add_argument("plan", metavar="PLAN.json")
    p.add_argument("--dest", help="override the plan's destination")
    p.add_argument("--repo", help="refuse the plan unless it is for this repository")
    p.add_argument("--force", action="store_true",
                   help="apply even if the checkout's config changed since planning")
    ApplyGroup.add(p)
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("script", help="render a standalone pull script (sh + skopeo)")
    PlanGroup.add(p, repo_optional=True)
    p.add_argument("--plan", dest="plan_file", metavar="PLAN.json",
                   help="render this reviewed plan instead of planning")
    p.add_argument("-o", "--output", help="write the script here (default: stdout)")
    p.set_defaults(func=cmd_script)

    p = sub.add_parser("build", help="build the images with the reference buildah builder")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    p.add_argument("--repo", help="name stages REPO:image-stage-SIG (default:"
                   " localhost/PROJECT/stages)")
    _storage_arg(p)
    p.add_argument("--report", help="write a JSON report of every stage to this file")
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("push", help="push the local stages the repository lacks")
    p.add_argument("repo", metavar="REPO", help="stages repository, HOST[:PORT]/PATH")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    _storage_arg(p)
    ApplyGroup.add(p)
    ProjectGroup.add(p)
    RegistryGroup.add(p)
    add_format(p)
    p.set_defaults(func=cmd_push)
    _add_cleanup(sub)
    _add_verbose(sub)
    return parser


def _add_verbose(sub: argparse._SubParsersAction) -> None:
    """`werfpull plan -v` and `werfpull cleanup plan -v` as well as `werfpull -v plan`."""
    for command in sub.choices.values():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _add_verbose(nested[0])
            continue
        command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                             help="more logging (-vv: every command run)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse with positionals allowed after options (`plan REPO --insecure-registry IMG`),
    as werf's CLI does. argparse cannot intermix with subparsers, so the command's own
    parser reads the arguments that follow the command name."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, _ = parser.parse_known_args(argv)
    chain = [args.command] + ([args.config_command] if args.command == "config" else []) + (
        [args.cleanup_command] if args.command == "cleanup" else [])
    sub = parser
    for name in chain:
        sub = _subparsers(sub).choices[name]
    rest = argv[argv.index(chain[-1]) + 1:]
    ours = sub.parse_intermixed_args(rest)
    for key, value in vars(ours).items():
        setattr(args, key, value)
    return args


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    sys.stdout, sys.stderr = views.for_terminal(sys.stdout), views.for_terminal(sys.stderr)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="werfpull: %(message)s", stream=sys.stderr)
    # sh logs each process's plumbing at INFO; werfpull's own -vv line names the command.
    logging.getLogger("sh").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return args.func(args)
    except WerfpullError as exc:
        print(f"werfpull: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        process.halt()  # whatever phase it came in, no child outlives werfpull
        print("werfpull: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        process.halt()
        print("werfpull: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        return 0


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs as for Ctrl-C."""


def _sigterm(signum, frame):
    raise Terminated()
