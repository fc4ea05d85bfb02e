"""Command-line parsing: werf-style intermixed positionals, and one registry group for
every command that talks to a registry."""

from __future__ import annotations

import pytest

from werfpull.cli.main import parse
from werfpull.cli.options import RegistryGroup
from werfpull.errors import UsageError


@pytest.mark.parametrize("argv", [
    ["plan", "r.example/app/stages", "--insecure-registry", "worker", "api"],
    ["plan", "--insecure-registry", "r.example/app/stages", "worker", "api"],
    ["plan", "r.example/app/stages", "worker", "--insecure-registry", "api"],
])
def test_image_names_may_follow_options(argv):
    args = parse(argv)
    assert args.repo == "r.example/app/stages"
    assert args.images == ["worker", "api"]
    assert args.insecure_registry is True


@pytest.mark.parametrize("command", [
    ["pull", "r.example/a/s", "img", "--jobs", "2"], ["script", "r.example/a/s", "img"],
    ["push", "r.example/a/s", "img"], ["build", "img"], ["signatures"],
    ["apply", "plan.json"]])
def test_every_command_that_talks_to_a_registry_takes_the_registry_group(command):
    args = parse([*command, "--skip-tls-verify-registry", "--timeout", "5", "--retries", "1"])
    opts = RegistryGroup.build(args)
    assert opts.skip_tls_verify and opts.timeout == 5.0 and not opts.tls_verify
    assert "img" not in (getattr(args, "images", None) or []) or args.images == ["img"]


@pytest.mark.parametrize("flags, problem", [
    (["--timeout", "nan"], "--timeout"), (["--timeout", "0"], "--timeout"),
    (["--timeout", "inf"], "--timeout"), (["--retries", "-1"], "--retries")])
def test_bad_registry_values_are_usage_errors(flags, problem):
    with pytest.raises(UsageError, match=problem):
        RegistryGroup.build(parse(["plan", "r.example/a/s", *flags]))


def test_config_render_still_parses():
    args = parse(["-v", "config", "render", "--dir", "x"])
    assert (args.command, args.config_command, args.dir, args.verbose) == \
        ("config", "render", "x", 1)
