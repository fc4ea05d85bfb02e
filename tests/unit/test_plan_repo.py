"""A saved plan (pull or cleanup) is refused for another repository than `--repo` names."""

from __future__ import annotations

import pytest

from werfpull.errors import PlanError
from werfpull.plan.planfile import check_repo


def test_the_same_repository_passes_however_it_is_given():
    check_repo("plan.json", "127.0.0.1:5000/app/stages", None)
    check_repo("plan.json", "127.0.0.1:5000/app/stages", "127.0.0.1:5000/app/stages")


@pytest.mark.parametrize("what", ["plan", "cleanup plan"])
def test_another_repository_is_refused_naming_both(what):
    with pytest.raises(PlanError) as err:
        check_repo("plan.json", "127.0.0.1:5000/app/stages", "127.0.0.1:5000/other", what)
    assert str(err.value).startswith(
        f"plan.json: the {what} is for 127.0.0.1:5000/app/stages, not 127.0.0.1:5000/other")
    assert err.value.exit_code == 5
