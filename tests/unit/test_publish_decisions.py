"""Platform text and codes become contract values: an odd Graph error never fails the outcome."""

from __future__ import annotations

from jobcast.graph.pacing import RetryPolicy
from jobcast.platform_api import Verdict
from schemas.bounds import MAX_INT
from schemas.publish import ErrorClass, PublishStatus
from services.publishing import decisions


def test_a_graph_message_with_nul_and_surrogates_is_kept_readable() -> None:
    decision = decisions.failed(1, ErrorClass.PERMANENT, "bad\x00 thing \ud800" + "x" * 3000)
    assert decision.error is not None
    assert decision.error.message.startswith("bad\ufffd thing \ufffd")
    assert len(decision.error.message) == 2000


def test_codes_beyond_the_contract_are_dropped_not_fatal() -> None:
    verdict = Verdict(ErrorClass.PERMANENT)
    decision = decisions.after_failure(
        verdict, 1, RetryPolicy((1.0,), 3), code=2**40, subcode=MAX_INT, message="\x00"
    )
    assert decision.status is PublishStatus.FAILED
    assert decision.error is not None
    assert decision.error.code is None
    assert decision.error.subcode == MAX_INT
    assert decision.error.message == "\ufffd"
