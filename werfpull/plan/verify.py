"""Whether a saved plan that keeps a valid shape still says what the checkout and the
registry say: the checks `apply` runs (unless `--force`) before anything is copied.

A plan file is reviewed on one host and applied on another; whoever can edit it in
between could name another real digest, an invented signature or weaker TLS. The
plan's shape is checked by `planfile.py`; here its content is: every signature must be
one the checkout produces for that stage, and the registry's TLS is the command line's
to lower, never the plan's. (That each tag still points to the planned digest is
checked before its copy, `apply/pull.py`.)
"""

from __future__ import annotations

from werfpull.errors import PlanError
from werfpull.plan.model import Plan
from werfpull.refs import Repo
from werfpull.tools import skopeo


def check_signatures(plan: Plan, path: str, signed) -> None:
    """Refuse a plan naming a signature (or a stage of it) the checkout does not produce.

    `signed` is the project's list of ImageStages, signed from the checkout."""
    produced = {st.signature: st.name for s in signed for st in s.stages}
    for i, pull in enumerate(plan.pulls):
        _check_one(path, f"pulls[{i}]", pull.signature, pull.stage, produced)
    for i, image in enumerate(plan.images):
        for j, stage in enumerate(image.stages):
            _check_one(path, f"images[{i}].stages[{j}]", stage.signature, stage.name, produced)


def _check_one(path: str, at: str, signature: str, stage: str, produced: dict) -> None:
    if produced.get(signature) != stage:
        raise PlanError(
            f"{path}: {at}: signature {signature[:12]} of stage {stage!r} is not one this"
            " checkout produces: the plan was edited or made from another commit",
            hint="plan again, or pass --force to apply it as it is")


def registry_options(plan: Plan, given: skopeo.RegistryOptions | None,
                     path: str = "plan") -> skopeo.RegistryOptions:
    """The command line's registry options. A plan made with weaker TLS is refused when
    the command line does not lower TLS the same way: an edited plan must not."""
    given = given or skopeo.RegistryOptions()
    planned = skopeo.RegistryOptions.from_json(plan.registry)
    for flag, wanted, have in (("--insecure-registry", planned.insecure, given.insecure),
                               ("--skip-tls-verify-registry", planned.skip_tls_verify,
                                given.skip_tls_verify)):
        if wanted and not have:
            raise PlanError(
                f"{path}: the plan was made with {flag} for {Repo(plan.repo).host}, and a"
                " plan alone never lowers TLS", hint=f"pass {flag} to apply it")
    return given
