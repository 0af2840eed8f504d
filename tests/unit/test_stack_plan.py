"""`jobcast stack up` run again keeps what runs, restarts what is down, keeps the endpoints the
user gave, and never switches one silently (devtools.stack_plan)."""

from __future__ import annotations

import itertools

import pytest

from devtools.stack_plan import (
    ENDPOINT_VARIABLES,
    Choice,
    Recorded,
    Source,
    StackConflictError,
    StackState,
    Status,
    infer_state,
    plan_stack,
    redact,
)

LOCAL = {
    "kafka": "127.0.0.1:19092",
    "postgres": "postgresql://jobcast:jobcast@127.0.0.1:55432/jobcast",
    "graph-api": "http://127.0.0.1:8090",
    "ingest": "http://127.0.0.1:8081",
    "distributor": "http://127.0.0.1:8082",
}
SERVICES = ("ingest", "distributor")
REAL = {
    "kafka": "kafka.prod.example.com:9092",
    "postgres": "postgresql://app:s3cret@db.example.com:5432/jobcast",
    "graph-api": "https://graph.facebook.com/v21.0",
}
ALL_UP = dict.fromkeys(LOCAL, True)
ALL_DOWN = dict.fromkeys(LOCAL, False)


def env_file(endpoints: dict[str, str]) -> dict[str, str]:
    """What `.jobcast/env` holds for these endpoints (and what `. .jobcast/env` exports)."""
    values = {ENDPOINT_VARIABLES[n]: e for n, e in endpoints.items() if n in ENDPOINT_VARIABLES}
    return {**values, "JOBCAST_SECRET_KEY": "key-1", "GRAPH_APP_SECRET": "app-secret-1"}


def state_of(choices: list[Choice], *, up: bool = True) -> StackState:
    return StackState(up, {c.component: Recorded(c.source, c.endpoint) for c in choices})


def by_name(choices: list[Choice]) -> dict[str, tuple[Source, str, Status]]:
    return {c.component: (c.source, c.endpoint, c.status) for c in choices}


def first_run(environ: dict[str, str]) -> tuple[list[Choice], dict[str, str]]:
    """`stack up` on a fresh clone; returns its choices and the env file it wrote."""
    choices = plan_stack(environ, None, {}, LOCAL, ALL_DOWN)
    return choices, env_file({c.component: c.endpoint for c in choices})


def test_a_fresh_clone_starts_every_part_locally() -> None:
    choices = plan_stack({}, None, {}, LOCAL, ALL_DOWN)
    assert by_name(choices) == {n: (Source.LOCAL, e, Status.STARTED) for n, e in LOCAL.items()}


@pytest.mark.parametrize("component", list(ENDPOINT_VARIABLES))
def test_an_endpoint_in_the_environment_is_used_instead_of_the_local_part(component: str) -> None:
    choices, _ = first_run({ENDPOINT_VARIABLES[component]: REAL[component]})
    assert by_name(choices)[component] == (Source.GIVEN, REAL[component], Status.GIVEN)


def test_a_second_run_with_the_env_file_sourced_keeps_everything_running() -> None:
    choices, written = first_run({})
    again = plan_stack(written, state_of(choices), written, LOCAL, ALL_UP)
    assert by_name(again) == {n: (Source.LOCAL, e, Status.KEPT) for n, e in LOCAL.items()}


@pytest.mark.parametrize("sourced", [True, False], ids=["env-sourced", "env-not-sourced"])
@pytest.mark.parametrize("component", list(ENDPOINT_VARIABLES))
def test_a_given_endpoint_stays_given_on_a_second_run(component: str, sourced: bool) -> None:
    """Finding 9: the value `.jobcast/env` recorded for a given endpoint is the user's, not
    the local stack's: the sandbox (or local Kafka, Postgres) must not take its place."""
    choices, written = first_run({ENDPOINT_VARIABLES[component]: REAL[component]})
    alive = {**ALL_UP, component: False}  # its local part never ran
    again = plan_stack(written if sourced else {}, state_of(choices), written, LOCAL, alive)
    assert by_name(again)[component] == (Source.GIVEN, REAL[component], Status.GIVEN)


def test_a_given_endpoint_is_kept_when_everything_died_and_the_stack_was_not_brought_down() -> None:
    choices, written = first_run({"GRAPH_API_URL": REAL["graph-api"]})
    again = plan_stack({}, state_of(choices), written, LOCAL, ALL_DOWN)
    assert by_name(again)["graph-api"] == (Source.GIVEN, REAL["graph-api"], Status.GIVEN)
    assert by_name(again)["kafka"] == (Source.LOCAL, LOCAL["kafka"], Status.RESTARTED)


def test_only_the_crashed_service_is_restarted() -> None:
    choices, written = first_run({})
    again = plan_stack(written, state_of(choices), written, LOCAL, {**ALL_UP, "distributor": False})
    assert {c.component: c.status for c in again} == {
        **dict.fromkeys(LOCAL, Status.KEPT),
        "distributor": Status.RESTARTED,
    }


def test_a_stopped_local_kafka_is_restarted_on_its_own_endpoint() -> None:
    choices, written = first_run({})
    again = plan_stack({}, state_of(choices), written, LOCAL, {**ALL_UP, "kafka": False})
    assert by_name(again)["kafka"] == (Source.LOCAL, LOCAL["kafka"], Status.RESTARTED)


@pytest.mark.parametrize("component", list(ENDPOINT_VARIABLES))
def test_another_endpoint_under_a_running_stack_is_refused(component: str) -> None:
    variable = ENDPOINT_VARIABLES[component]
    choices, written = first_run({})
    with pytest.raises(StackConflictError) as refused:
        plan_stack(
            {**written, variable: REAL[component]}, state_of(choices), written, LOCAL, ALL_UP
        )
    message = str(refused.value)
    assert f"{variable}={redact(REAL[component])}" in message
    assert redact(LOCAL[component]) in message
    assert "started here" in message
    assert "jobcast stack down" in message
    assert "s3cret" not in message


def test_a_refusal_names_every_conflict_and_an_endpoint_the_user_gave() -> None:
    choices, written = first_run({"GRAPH_API_URL": REAL["graph-api"]})
    environ = {**written, "GRAPH_API_URL": LOCAL["graph-api"], "KAFKA_BOOTSTRAP_SERVERS": "x:1"}
    with pytest.raises(StackConflictError) as refused:
        plan_stack(environ, state_of(choices), written, LOCAL, ALL_UP)
    message = str(refused.value)
    assert f"{REAL['graph-api']} (given by you)" in message
    assert "KAFKA_BOOTSTRAP_SERVERS=x:1" in message


def test_a_partly_running_stack_refuses_too() -> None:
    """Even with the state marked down, a Kafka still running is part of the stack."""
    choices, written = first_run({})
    alive = {**ALL_DOWN, "kafka": True}
    with pytest.raises(StackConflictError):
        plan_stack(
            {"GRAPH_API_URL": REAL["graph-api"]}, state_of(choices, up=False), written, LOCAL, alive
        )


@pytest.mark.parametrize("setting", ["JOBCAST_SECRET_KEY", "GRAPH_APP_SECRET"])
def test_another_shared_secret_under_a_running_stack_is_refused_without_showing_it(
    setting: str,
) -> None:
    choices, written = first_run({})
    with pytest.raises(StackConflictError) as refused:
        plan_stack({setting: "other-value"}, state_of(choices), written, LOCAL, ALL_UP)
    assert setting in str(refused.value)
    assert "other-value" not in str(refused.value)
    assert written[setting] not in str(refused.value)


def test_after_stack_down_an_endpoint_in_the_environment_is_used() -> None:
    choices, written = first_run({})
    environ = {"GRAPH_API_URL": REAL["graph-api"]}
    again = plan_stack(environ, state_of(choices, up=False), written, LOCAL, ALL_DOWN)
    assert by_name(again)["graph-api"] == (Source.GIVEN, REAL["graph-api"], Status.GIVEN)
    assert by_name(again)["kafka"] == (Source.LOCAL, LOCAL["kafka"], Status.STARTED)


def test_after_stack_down_an_unset_endpoint_goes_back_to_the_local_part() -> None:
    choices, written = first_run({"GRAPH_API_URL": REAL["graph-api"]})
    again = plan_stack({}, state_of(choices, up=False), written, LOCAL, ALL_DOWN)
    assert by_name(again)["graph-api"] == (Source.LOCAL, LOCAL["graph-api"], Status.STARTED)


def test_after_stack_down_the_sourced_env_file_means_the_same_stack() -> None:
    choices, written = first_run({"DATABASE_URL": REAL["postgres"]})
    again = plan_stack(written, state_of(choices, up=False), written, LOCAL, ALL_DOWN)
    assert by_name(again)["postgres"] == (Source.GIVEN, REAL["postgres"], Status.GIVEN)
    assert by_name(again)["graph-api"] == (Source.LOCAL, LOCAL["graph-api"], Status.STARTED)


def test_a_stack_started_before_state_files_is_read_from_its_env_file() -> None:
    written = env_file({**LOCAL, "graph-api": REAL["graph-api"]})
    state = infer_state(written, LOCAL)
    assert state is not None
    assert state.components["graph-api"] == Recorded(Source.GIVEN, REAL["graph-api"])
    assert state.components["kafka"] == Recorded(Source.LOCAL, LOCAL["kafka"])
    again = plan_stack(written, state, written, LOCAL, ALL_UP)
    assert by_name(again)["graph-api"] == (Source.GIVEN, REAL["graph-api"], Status.GIVEN)
    assert infer_state({}, LOCAL) is None


def test_a_real_graph_api_url_never_leads_to_the_sandbox() -> None:
    """Over every earlier stack, liveness and env-file state: GRAPH_API_URL set to a real
    Graph API is either used or refused, never replaced by the local sandbox."""
    earlier_graph = [None, LOCAL["graph-api"], REAL["graph-api"], "https://graph.example/v1"]
    for graph, up, alive, sourced in itertools.product(
        earlier_graph, [True, False], [ALL_UP, ALL_DOWN], [True, False]
    ):
        state = None
        written: dict[str, str] = {}
        if graph is not None:
            source = Source.LOCAL if graph == LOCAL["graph-api"] else Source.GIVEN
            state = StackState(up, {"graph-api": Recorded(source, graph)})
            written = env_file({"graph-api": graph})
        environ = {**(written if sourced else {}), "GRAPH_API_URL": REAL["graph-api"]}
        try:
            choices = plan_stack(environ, state, written, LOCAL, alive)
        except StackConflictError:
            continue
        assert by_name(choices)["graph-api"] == (Source.GIVEN, REAL["graph-api"], Status.GIVEN)


def test_the_state_file_round_trips() -> None:
    choices, _ = first_run({"GRAPH_API_URL": REAL["graph-api"]})
    state = state_of(choices)
    assert StackState.from_json(state.to_json()) == state


def test_redact_hides_only_a_password() -> None:
    assert redact(REAL["postgres"]) == "postgresql://app:***@db.example.com:5432/jobcast"
    assert redact(REAL["graph-api"]) == REAL["graph-api"]
    assert redact("127.0.0.1:19092") == "127.0.0.1:19092"
