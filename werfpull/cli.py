"""The command line: parse arguments, call one library function, print, map errors.

Nothing below this module prints to the terminal or exits; exit codes come from the
error classes in `errors.py` and are documented in README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile

from werfpull import __version__, skopeo
from werfpull.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, WerfpullError

log = logging.getLogger("werfpull")


def _project_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", default=".", help="project directory (default: .)")
    p.add_argument("--config", help="config file (default: DIR/werf.yaml)")


def _registry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--insecure-registry", action="store_true",
                   help="allow plain HTTP and unverified TLS")
    p.add_argument("--skip-tls-verify-registry", action="store_true",
                   help="do not verify the registry's TLS certificate")
    p.add_argument("--registry-authfile",
                   help="auth file (default: REGISTRY_AUTH_FILE, then the docker config)")
    p.add_argument("--retries", type=int, default=3,
                   help="retries of transient registry errors (default 3)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="give up one registry call after this long, then retry (default: none)")


def _format_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text")


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("repo", metavar="REPO", help="stages repository, HOST[:PORT]/PATH")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    p.add_argument("--all-stages", action="store_true",
                   help="pull every remote stage, not only the last valid one")
    p.add_argument("--dest", help="containers-storage[:[DRIVER@ROOT+RUNROOT]], docker-daemon,"
                   " oci:DIR or docker://HOST/REPO (default: what this host has)")
    p.add_argument("--inventory", choices=("auto", "probe", "list"), default="auto",
                   help="how to learn which stages the registry has")
    _project_args(p)
    _registry_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="werfpull", description="Pull the stages cache a build needs from a registry.")
    parser.add_argument("--version", action="version", version=f"werfpull {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-vv: every command run)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("signatures", help="print the stage signatures of every image")
    _project_args(p)
    _registry_args(p)
    _format_arg(p)
    p.set_defaults(func=cmd_signatures)

    p = sub.add_parser("config", help="show the config as werfpull reads it")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    p = config_sub.add_parser("render", help="print werf.yaml rendered to plain YAML")
    _project_args(p)
    p.set_defaults(func=cmd_config_render)

    p = sub.add_parser("plan", help="show what a pull would take, without pulling")
    _plan_args(p)
    _format_arg(p)
    p.add_argument("--out", help="also write the plan as JSON to this file")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("pull", help="plan, then pull the planned stages")
    _plan_args(p)
    _apply_args(p)
    _format_arg(p)
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("apply", help="pull exactly what a saved plan lists")
    p.add_argument("plan", metavar="PLAN.json")
    p.add_argument("--dest", help="override the plan's destination")
    p.add_argument("--repo", help="refuse the plan unless it is for this repository")
    p.add_argument("--force", action="store_true",
                   help="apply even if the checkout's config changed since planning")
    _apply_args(p)
    _project_args(p)
    _registry_args(p)
    _format_arg(p)
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser("script", help="render a standalone pull script (sh + skopeo)")
    p.add_argument("repo", metavar="REPO", nargs="?", help="stages repository to plan for")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    p.add_argument("--plan", dest="plan_file", metavar="PLAN.json",
                   help="render this reviewed plan instead of planning")
    p.add_argument("-o", "--output", help="write the script here (default: stdout)")
    p.add_argument("--all-stages", action="store_true")
    p.add_argument("--dest", help="the script's default destination")
    p.add_argument("--inventory", choices=("auto", "probe", "list"), default="auto")
    _project_args(p)
    _registry_args(p)
    p.set_defaults(func=cmd_script)

    p = sub.add_parser("build", help="build the images with the reference buildah builder")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    p.add_argument("--repo", help="name stages REPO:image-stage-SIG (default:"
                   " localhost/PROJECT/stages)")
    p.add_argument("--storage", default="containers-storage",
                   help="containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT]")
    p.add_argument("--report", help="write a JSON report of every stage to this file")
    _project_args(p)
    _format_arg(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("push", help="push the local stages the repository lacks")
    p.add_argument("repo", metavar="REPO", help="stages repository, HOST[:PORT]/PATH")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
    p.add_argument("--storage", default="containers-storage",
                   help="containers-storage or containers-storage:[DRIVER@ROOT+RUNROOT]")
    _apply_args(p)
    _project_args(p)
    _registry_args(p)
    _format_arg(p)
    p.set_defaults(func=cmd_push)
    return parser


def _apply_args(p: argparse.ArgumentParser) -> None:
    from werfpull.transfer import DEFAULT_JOBS

    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                   help=f"copies at once (default {DEFAULT_JOBS})")


def registry_options(args) -> skopeo.RegistryOptions:
    from werfpull.errors import UsageError

    # skopeo 1.9 takes a missing auth file for "no credentials" and the user then sees
    # only "access refused"; name the real mistake instead.
    if args.registry_authfile and not os.path.isfile(args.registry_authfile):
        raise UsageError(f"--registry-authfile {args.registry_authfile}: no such file")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    return skopeo.RegistryOptions(insecure=args.insecure_registry,
                                  skip_tls_verify=args.skip_tls_verify_registry,
                                  authfile=args.registry_authfile, timeout=args.timeout)


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file so a reader never sees half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".werfpull-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_signatures(args) -> int:
    from werfpull.project import load_project
    from werfpull.view import signatures_text

    project = load_project(args.dir, args.config, registry_options(args))
    if args.format == "json":
        print(json.dumps({"project": project.config.project,
                          "images": [s.to_json() for s in project.signed]}, indent=2))
    else:
        sys.stdout.write(signatures_text(project.config.project, project.signed))
    return 0


def cmd_config_render(args) -> int:
    from werfpull.config import render_config

    sys.stdout.write(render_config(args.dir, args.config)[1])
    return 0


def plan_request(args):
    from werfpull.commands.plan import PlanRequest

    return PlanRequest(repo=args.repo, images=args.images, directory=args.dir,
                       config=args.config, all_stages=args.all_stages, dest=args.dest,
                       registry=registry_options(args), inventory=args.inventory,
                       retries=args.retries)


def cmd_plan(args) -> int:
    from werfpull.commands.plan import make_plan
    from werfpull.view import plan_text

    plan = make_plan(plan_request(args))
    if args.out:
        write_atomic(args.out, plan.dumps())
    sys.stdout.write(plan.dumps() if args.format == "json" else plan_text(plan))
    return 0


def _progress(event, verb: str = "pull") -> None:
    from werfpull.view import event_line

    line = event_line(event, verb)
    if line:
        print(f"werfpull: {line}", file=sys.stderr, flush=True)


def _report_outcome(plan, outcome, fmt: str) -> None:
    from werfpull.view import outcome_text

    if fmt == "json":
        print(json.dumps({"plan": plan.identity, "dest": plan.dest, **outcome.to_json()},
                         indent=2))
    else:
        sys.stdout.write(outcome_text(plan, outcome))


def _apply_reporting(plan, fmt: str, run):
    from werfpull.errors import TransferFailed

    try:
        outcome = run()
    except TransferFailed as exc:
        if exc.outcome is not None:
            _report_outcome(plan, exc.outcome, fmt)
        raise
    _report_outcome(plan, outcome, fmt)
    return 0


def cmd_pull(args) -> int:
    from werfpull.commands.plan import make_plan
    from werfpull.commands.pull import apply_plan

    req = plan_request(args)
    plan = make_plan(req)
    print(f"werfpull: destination {plan.dest} ({plan.dest_reason}); "
          f"{len(plan.pulls)} stage(s) to pull", file=sys.stderr)
    return _apply_reporting(plan, args.format, lambda: apply_plan(
        plan, registry=req.registry, jobs=args.jobs, retries=args.retries, report=_progress))


def cmd_apply(args) -> int:
    from werfpull.commands.pull import apply_plan, check_fresh
    from werfpull.plan import load_plan

    plan = load_plan(args.plan)
    check_fresh(plan, args.plan, repo=args.repo, directory=args.dir, config=args.config,
                force=args.force)
    return _apply_reporting(plan, args.format, lambda: apply_plan(
        plan, dest=args.dest, registry=registry_options(args), jobs=args.jobs,
        retries=args.retries, report=_progress))


def cmd_script(args) -> int:
    from werfpull.errors import UsageError
    from werfpull.script import render

    if bool(args.plan_file) == bool(args.repo):
        raise UsageError("give either REPO (to plan now) or --plan PLAN.json, not both")
    if args.plan_file:
        from werfpull.plan import load_plan

        plan = load_plan(args.plan_file)
    else:
        from werfpull.commands.plan import make_plan

        plan = make_plan(plan_request(args))
    text = render(plan)
    if args.output:
        write_atomic(args.output, text, mode=0o755)
        print(f"werfpull: wrote {args.output}: {len(plan.pulls)} stage(s), plan {plan.identity}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_build(args) -> int:
    from werfpull.commands.build import build

    def show(result):
        timing = f" in {result.seconds:.1f} s" if result.action == "built" else ""
        if result.action != "cached":
            print(f"werfpull: {result.action:<6} {result.image or '(unnamed)'} {result.stage}"
                  f" {result.signature[:12]}{timing}", file=sys.stderr, flush=True)

    report = build(args.images, directory=args.dir, config=args.config, repo=args.repo,
                   storage=args.storage, report=show)
    if args.report:
        write_atomic(args.report, json.dumps(report, indent=2) + "\n")
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        built = [s for s in report["stages"] if s["action"] == "built"]
        reused = [s for s in report["stages"] if s["action"] == "reused"]
        print(f"Built {len(built)} stage(s), reused {len(reused)}, in {report['seconds']:.1f} s")
    return 0


def cmd_push(args) -> int:
    from werfpull.commands.push import push

    outcome = push(args.repo, args.images, directory=args.dir, config=args.config,
                   storage=args.storage, registry=registry_options(args), jobs=args.jobs,
                   retries=args.retries, report=lambda e: _progress(e, "push"))
    if args.format == "json":
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(f"Pushed {len(outcome.pulled)} stage(s) in {outcome.seconds:.1f} s;"
              f" {len(outcome.skipped)} already in {args.repo}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="werfpull: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        return args.func(args)
    except WerfpullError as exc:
        print(f"werfpull: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("werfpull: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("werfpull: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        return 0


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanup runs as for Ctrl-C."""


def _sigterm(signum, frame):
    raise Terminated()
