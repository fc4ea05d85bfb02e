"""Option groups: each adds its flags to a parser and turns them into one options object.

A new registry option is a flag here and a field of `RegistryOptions` (with its argv
in `tools/skopeo.py`); every command that talks to a registry takes the whole group.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass

from werfpull.apply.transfer import DEFAULT_JOBS, DEFAULT_RETRIES, MAX_RETRIES
from werfpull.errors import UsageError
from werfpull.plan.make import PlanRequest
from werfpull.tools import skopeo


@dataclass(frozen=True)
class ProjectOptions:
    directory: str = "."
    config: str | None = None


@dataclass(frozen=True)
class ApplyOptions:
    jobs: int = DEFAULT_JOBS
    retries: int = DEFAULT_RETRIES


class ProjectGroup:
    @staticmethod
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", default=".", help="project directory (default: .)")
        p.add_argument("--config", help="config file (default: DIR/werf.yaml)")

    @staticmethod
    def build(args) -> ProjectOptions:
        return ProjectOptions(args.dir, args.config)


class RegistryGroup:
    @staticmethod
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--insecure-registry", action="store_true",
                       help="allow plain HTTP and unverified TLS")
        p.add_argument("--skip-tls-verify-registry", action="store_true",
                       help="do not verify the registry's TLS certificate")
        p.add_argument("--registry-authfile",
                       help="auth file (default: REGISTRY_AUTH_FILE, then the docker config)")
        p.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                       help=f"retries of transient registry errors (default {DEFAULT_RETRIES})")
        p.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="give up one registry call after this long, then retry"
                            " (default: none)")

    @staticmethod
    def build(args) -> skopeo.RegistryOptions:
        # skopeo 1.9 takes a missing auth file for "no credentials" and the user then sees
        # only "access refused"; name the real mistake instead.
        if args.registry_authfile and not os.path.isfile(args.registry_authfile):
            raise UsageError(f"--registry-authfile {args.registry_authfile}: no such file")
        if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
            raise UsageError("--timeout must be a positive number of seconds")
        if not 0 <= args.retries <= MAX_RETRIES:
            raise UsageError(f"--retries must be from 0 to {MAX_RETRIES}")
        return skopeo.RegistryOptions(insecure=args.insecure_registry,
                                      skip_tls_verify=args.skip_tls_verify_registry,
                                      authfile=args.registry_authfile, timeout=args.timeout)


class PlanGroup:
    """REPO, IMAGE..., and how to plan: the arguments of plan, pull and script."""

    @staticmethod
    def add(p: argparse.ArgumentParser, repo_optional: bool = False) -> None:
        p.add_argument("repo", metavar="REPO", nargs="?" if repo_optional else None,
                       help="stages repository, HOST[:PORT]/PATH")
        p.add_argument("images", metavar="IMAGE", nargs="*", help="only these images")
        p.add_argument("--all-stages", action="store_true",
                       help="pull every remote stage, not only the last valid one")
        p.add_argument("--dest", help="containers-storage[:[DRIVER@ROOT+RUNROOT]],"
                       " docker-daemon, oci:DIR or docker://HOST/REPO"
                       " (default: what this host has)")
        p.add_argument("--inventory", choices=("auto", "probe", "list"), default="auto",
                       help="how to learn which stages the registry has")
        p.add_argument("--platform", action="append", default=[], metavar="PLATFORM",
                       dest="platforms", help="plan only this platform of images built for"
                       " several (repeatable; default: all)")
        ProjectGroup.add(p)
        RegistryGroup.add(p)

    @staticmethod
    def build(args) -> PlanRequest:
        project = ProjectGroup.build(args)
        return PlanRequest(repo=args.repo, images=args.images, directory=project.directory,
                           config=project.config, all_stages=args.all_stages, dest=args.dest,
                           registry=RegistryGroup.build(args), inventory=args.inventory,
                           retries=args.retries, platforms=args.platforms)


class ApplyGroup:
    @staticmethod
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                       help=f"copies at once (default {DEFAULT_JOBS})")

    @staticmethod
    def build(args) -> ApplyOptions:
        if args.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        return ApplyOptions(jobs=args.jobs, retries=args.retries)


def add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json"), default="text")
