"""Rendering a plan into a standalone POSIX shell script (sh, coreutils and skopeo only).

Owns the one Jinja environment (StrictUndefined, no autoescape, the `shword` filter
every value goes through) and the values a script is rendered from. Every skopeo
command in the script comes from `tools/skopeo.py`, like the ones `apply` runs; the
destinations, the errors not retried and the retry count come from their Python
definitions too.
"""

from __future__ import annotations

import re

import jinja2

from werfpull import __version__
from werfpull.apply.transfer import DEFAULT_RETRIES, MAX_RETRIES
from werfpull.destinations import TRANSPORTS
from werfpull.errors import PlanError
from werfpull.plan.model import Plan
from werfpull.refs import DIGEST_RE, SIGNATURE_RE, name_problem, parse_repo
from werfpull.signatures.stages import BY_NAME
from werfpull.tools import skopeo
from werfpull.tools.registry_errors import PERMANENT

_SAFE = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shword(value) -> str:
    """Quote a data word (a name, a digest) for POSIX sh: it stays one literal word,
    never a variable, whatever it holds."""
    text = str(value)
    if skopeo.VAR_MARK in text:
        raise ValueError(f"a NUL byte in {text!r}: data is never a shell variable")
    return shquote(text)


def shquote(value) -> str:
    """Quote a word of the script's own commands; `skopeo.shell_var` placeholders
    become "${NAME}"."""
    text = str(value)
    parts = text.split(skopeo.VAR_MARK)
    if len(parts) % 2 == 0:
        raise ValueError(f"unbalanced shell variable placeholder in {text!r}")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            if not _VAR.fullmatch(part):
                raise ValueError(f"not a shell variable name: {part!r}")
            out.append(f'"${{{part}}}"')
        elif part:
            out.append(part if _SAFE.fullmatch(part) else "'" + part.replace("'", "'\\''") + "'")
    return "".join(out) or "''"


def shargv(argv: list[str]) -> str:
    return " ".join(shquote(word) for word in argv)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("werfpull.script", "templates"),
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
        trim_blocks=True, lstrip_blocks=True)
    env.filters["shword"] = shword
    env.filters["shargv"] = shargv
    return env


def _check(plan: Plan) -> None:
    """Defence in depth: load_plan validated these, but a Plan can be built in code, or
    from a config whose names hold anything YAML can say ("a\\0HOME\\0b")."""
    parse_repo(plan.repo)
    names = [("project", plan.project), ("dest", plan.dest)]
    for pull in plan.pulls:
        if not (SIGNATURE_RE.fullmatch(pull.signature) and DIGEST_RE.fullmatch(pull.digest)):
            raise PlanError(f"pull {pull.signature!r} has an invalid signature or digest")
        if pull.layers and not DIGEST_RE.fullmatch(str(pull.layers[0][0])):
            raise PlanError(f"pull {pull.signature!r} has an invalid config digest")
        if pull.stage not in BY_NAME:
            raise PlanError(f"pull {pull.signature[:12]}: {pull.stage!r} is not a stage name")
        names += [("image", n) for n in pull.images]
    for what, name in names:
        problem = name_problem(name)
        if problem:
            raise PlanError(f"the {what} name {name!r} {problem}: refused before rendering",
                            hint="rename it in werf.yaml")


def commands() -> dict[str, str]:
    """The skopeo calls of the script, with run-time values as shell variables."""
    v = skopeo.shell_var
    registry = skopeo.Side(tls_verify=v("TLS_VERIFY"))
    daemon = skopeo.Side(tls_verify=v("TLS_VERIFY"), daemon_host=v("DAEMON_HOST"))
    at_daemon = skopeo.Side(daemon_host=v("DAEMON_HOST"))

    def timed(argv: list[str]) -> str:
        # Through the script's timed_skopeo: WERFPULL_TIMEOUT as skopeo's own limit.
        return shargv(["timed_skopeo", *argv[1:]])

    def copy(dest_side: skopeo.Side) -> str:
        return timed(skopeo.copy(v("src"), v("dest"), src_side=registry, dest_side=dest_side,
                                 preserve_digests=v("PRESERVE_DIGESTS"),
                                 digestfile=v("digestfile")))
    return {
        "skopeo_copy": copy(registry),
        # Into a daemon at DOCKER_HOST: skopeo 1.9 ignores the variable itself.
        "skopeo_copy_daemon": copy(daemon),
        "skopeo_inspect": timed(skopeo.inspect_raw(v("ref"), registry)),
        "skopeo_delete": timed(skopeo.delete(v("ref"), registry)),
        # A docker-daemon stage's image ID is the digest of its config blob.
        "skopeo_config": timed(skopeo.inspect_config(v("ref"))),
        "skopeo_config_daemon": timed(skopeo.inspect_config(v("ref"), at_daemon)),
    }


def destinations() -> list[dict]:
    """Each transport's WERFPULL_DEST patterns and stage reference, for the script."""
    return [{"pattern": pattern, "ref": ref, "preserves_digests": t.preserves_digests}
            for t in TRANSPORTS for pattern, ref in t.shell_cases]


def render(plan: Plan) -> str:
    _check(plan)
    return environment().get_template("pull.sh.j2").render(
        plan=plan, identity=plan.identity, tool=__version__, repo_path=parse_repo(plan.repo).path,
        tls_verify=skopeo.RegistryOptions.from_json(plan.registry).tls_verify,
        retries=DEFAULT_RETRIES, max_retries=MAX_RETRIES, permanent=PERMANENT,
        destinations=destinations(),
        cmd=commands(), stages=[
            {"stage": p.stage, "signature": p.signature, "digest": p.digest,
             "size": "?" if p.size is None else p.size,
             "config": p.layers[0][0] if p.layers else "",
             "images": ",".join("(unnamed)" if n is None else n for n in p.images)}
            for p in plan.pulls])
