"""Every row of the Graph error table in shared/reference/graph-api.md."""

from __future__ import annotations

import pytest

from jobcast.graph.errors import classify_graph_error
from jobcast.platform_api import Verdict
from schemas import ErrorClass

T, R, A, P, D = (
    ErrorClass.TRANSIENT,
    ErrorClass.RATE_LIMITED,
    ErrorClass.AUTH,
    ErrorClass.PERMANENT,
    ErrorClass.ALREADY_POSTED,
)


@pytest.mark.parametrize(
    ("code", "subcode", "expected"),
    [
        (1, None, Verdict(T, ambiguous=True)),
        (2, None, Verdict(T, ambiguous=True)),
        (4, None, Verdict(R, app_wide=True)),
        (17, None, Verdict(R)),
        (32, None, Verdict(R)),
        (613, None, Verdict(R)),
        (80001, None, Verdict(R)),
        (80002, None, Verdict(R)),
        (341, None, Verdict(R, app_wide=True)),
        (368, 1390008, Verdict(R)),
        (506, None, Verdict(D)),
        (100, None, Verdict(P)),
        (102, None, Verdict(A)),
        *[(190, s, Verdict(A)) for s in (None, 458, 459, 460, 463, 464, 467, 492, 493)],
        (3, None, Verdict(A)),
        (10, None, Verdict(A)),
        (200, None, Verdict(A)),
        (299, None, Verdict(A)),
        (1609005, None, Verdict(P)),
        # Instagram publishing
        (-2, 2207003, Verdict(T)),
        (-1, 2207001, Verdict(T)),
        (-1, 2207032, Verdict(T)),
        (None, 2207020, Verdict(T)),
        (None, 2207053, Verdict(T)),
        (24, 2207006, Verdict(T)),
        (24, 2207008, Verdict(T)),
        (4, 2207051, Verdict(R, ambiguous=True)),
        (9, 2207042, Verdict(R)),
        (25, 2207050, Verdict(P)),
        (100, 2207023, Verdict(P)),
        (100, 2207028, Verdict(P)),
        (100, 2207035, Verdict(P)),
        (100, 2207036, Verdict(P)),
        (100, 2207037, Verdict(P)),
        (100, 2207040, Verdict(P)),
        (352, 2207026, Verdict(P)),
        (9004, 2207052, Verdict(T)),
        (9007, 2207027, Verdict(T)),
        (36000, 2207004, Verdict(P)),
        (36001, 2207005, Verdict(P)),
        (36003, 2207009, Verdict(P)),
        (36004, 2207010, Verdict(P)),
        (-1, None, Verdict(T, ambiguous=True)),
        (-2, None, Verdict(T, ambiguous=True)),
        (12345, None, Verdict(P)),
        (None, None, Verdict(P)),
    ],
)
def test_classification(code: int | None, subcode: int | None, expected: Verdict) -> None:
    assert classify_graph_error(code, subcode) == expected
