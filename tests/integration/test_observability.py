"""The observability deliverables against a real Prometheus (Debian's `prometheus` package).

- `promtool check config` on every Prometheus config in deploy/, `promtool check rules`,
  and `promtool test rules` (deploy/prometheus/rules.test.yml: alerts fire on synthetic
  series and stay quiet on healthy ones).
- A real Prometheus scrapes the running test pipeline with deploy/prometheus/prometheus.yml
  (targets moved to the test's ports, scrape and evaluation every second) and evaluates
  deploy/prometheus/rules.yml. After a short workload that goes through every path worth
  a panel (posts on both platforms, an Instagram skip, a permanent failure, a rate limit,
  a dead letter, an expiring token), every expression of every dashboard panel must return
  at least one sample that is a number, and so must every alert's *series*: an alert reads
  "<expression> <comparison> <number>" (joined by and/or/unless), and a healthy pipeline
  rightly makes the comparison empty, so the comparison is dropped and what is left must
  have data. Every rule must also evaluate without error inside Prometheus.
- The engagement dashboard's SQL runs against the read model with Grafana's macros
  expanded, and must return rows.

The tests skip only when promtool is absent and cannot be installed (`.ci/run` installs it;
as root with apt-get, the fixture installs it itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from pydantic import SecretStr

from devtools.devstack.session import distinct_free_ports, scratch_dir
from devtools.stack import SERVICES, Endpoints
from jobcast.crypto import TokenCipher
from jobcast.topics import (
    CONNECTIONS_EVENTS,
    CONSUMED,
    ENGAGEMENT_EVENTS,
    JOBS_EVENTS,
    JOBS_INCOMING,
    OPERATOR_COMMANDS,
    PLATFORM_WEBHOOKS,
    PUBLISH_RESULTS,
)
from schemas import Platform
from services.distributor.repo import add_connection
from tests.harness import FAST_TIMERS, RunningPipeline
from tests.integration.helpers import add_fault, job_event, new_tenant, send_raw, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
CONFIGS = [
    DEPLOY / "prometheus" / "prometheus.yml",
    DEPLOY / "compose" / "prometheus.yml",
    DEPLOY / "k8s" / "prometheus.yml",
]
# What Grafana substitutes before a query reaches Prometheus or Postgres.
# Wider than Grafana's usual $__rate_interval, so a rate still covers the workload when the
# last query runs.
RATE_INTERVAL = "5m"
SQL_WINDOW = "now() - interval '1 day' AND now() + interval '1 hour'"


# ----------------------------------------------------------------- the binaries


def _installed() -> tuple[str, str] | None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    return (prometheus, promtool) if prometheus and promtool else None


def _apt_install_prometheus() -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"]
    for command in (install, ["apt-get", "update", "-q"], install):  # update only if needed
        done = subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        if command is install and done.returncode == 0:
            return


@pytest.fixture(scope="module")
def prometheus_bin() -> tuple[str, str]:
    found = _installed()
    if found is None:
        _apt_install_prometheus()
        found = _installed()
    if found is None:
        pytest.skip(
            "promtool/prometheus not installed and apt-get could not install Debian's "
            "`prometheus` package (needs root and apt); .ci/run installs it"
        )
    return found


def _promtool(promtool: str, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


# ----------------------------------------------------------------- promtool


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_promtool_checks_config(
    prometheus_bin: tuple[str, str], config: Path, tmp_path: Path
) -> None:
    _, promtool = prometheus_bin
    document = yaml.safe_load(config.read_text())
    if _lacks_kubernetes_sd(promtool, config):
        # Debian builds Prometheus without Kubernetes discovery: check everything else of
        # the config (relabelling included) with a static target in its place.
        for job in document["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
        copy = tmp_path / config.parent.name / config.name
        copy.parent.mkdir(parents=True)
        copy.write_text(yaml.safe_dump(document))
        (tmp_path / "prometheus").mkdir(exist_ok=True)
        shutil.copy(RULES, tmp_path / "prometheus" / "rules.yml")
        config = copy
    out = _promtool(promtool, "check", "config", str(config))
    assert "SUCCESS" in out


def _lacks_kubernetes_sd(promtool: str, config: Path) -> bool:
    if "kubernetes_sd_configs" not in config.read_text():
        return False
    done = subprocess.run(
        [promtool, "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "field kubernetes_sd_configs not found" in done.stdout + done.stderr


def test_promtool_checks_and_unit_tests_the_rules(prometheus_bin: tuple[str, str]) -> None:
    _, promtool = prometheus_bin
    assert "SUCCESS" in _promtool(promtool, "check", "rules", str(RULES))
    assert "SUCCESS" in _promtool(promtool, "test", "rules", "rules.test.yml", cwd=RULES.parent)


# ----------------------------------------------------------------- probes


async def test_readiness_covers_broker_database_and_consumer_assignment(
    running: RunningPipeline,
) -> None:
    expected = {
        "ingest": {"kafka", "postgres", "assignment"},
        "distributor": {"kafka", "postgres", "consumers"},
        "publisher-facebook": {"kafka", "postgres", "assignment"},
        "publisher-instagram": {"kafka", "postgres", "assignment"},
        "publisher-threads": {"kafka", "postgres", "assignment"},
        "publisher-linkedin": {"kafka", "postgres", "assignment"},
        "metrics": {"kafka", "postgres", "consumers"},
    }
    async with httpx.AsyncClient(timeout=10) as http:
        for name, checks in expected.items():
            ready = await http.get(f"{running.endpoints.url(name)}/readyz")
            assert ready.status_code == 200, (name, ready.text)
            assert checks <= set(ready.json()["checks"]), (name, ready.json())
            alive = await http.get(f"{running.endpoints.url(name)}/healthz")
            assert alive.json() == {"status": "ok"}, (name, alive.text)


# ----------------------------------------------------------------- expressions


def dashboard_queries() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(where, PromQL) and (where, SQL) of every dashboard panel target."""
    promql, sql = [], []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                where = f"{path.name} / {panel['title']} / {target['refId']}"
                if "expr" in target:
                    promql.append(
                        (where, target["expr"].replace("$__rate_interval", RATE_INTERVAL))
                    )
                elif "rawSql" in target:
                    sql.append((where, expand_sql_macros(target["rawSql"])))
    return promql, sql


def expand_sql_macros(query: str) -> str:
    return re.sub(r"\$__timeFilter\(([^)]+)\)", rf"(\1 BETWEEN {SQL_WINDOW})", query)


def rule_queries() -> list[tuple[str, str]]:
    """(where, PromQL): recording rules as they are, alerts as the series behind them."""
    queries = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                queries.append((rule["record"], rule["expr"]))
                queries.append((f"{rule['record']} (recorded)", rule["record"]))
            else:
                for i, operand in enumerate(alert_series(rule["expr"])):
                    queries.append((f"{rule['alert']} [{i}]", operand))
    return queries


_SET_OPERATOR = re.compile(r"\s(and|or|unless)\s")
_COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?-?[0-9.]+(e[+-]?[0-9]+)?\s*$")


def alert_series(expr: str) -> list[str]:
    """The operands of an alert expression with their threshold comparison removed:
    `a > 1000 and deriv(a[10m]) > 0` → [`a`, `deriv(a[10m])`]."""
    operands, depth, start = [], 0, 0
    text = " ".join(expr.split())
    for i, char in enumerate(text):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and (found := _SET_OPERATOR.match(text, i)) is not None and i >= start:
            operands.append(text[start:i])
            start = found.end()
    operands.append(text[start:])
    stripped = [_COMPARISON.sub("", operand).strip() for operand in operands]
    assert all(stripped), f"cannot split {expr!r}"
    return stripped


def test_alert_series_drops_only_the_threshold() -> None:
    assert alert_series("up{job=~'a|b'} == 0") == ["up{job=~'a|b'}"]
    assert alert_series("a:b > 1000 and deriv(a:b[10m]) > 0") == ["a:b", "deriv(a:b[10m])"]
    assert alert_series("sum by (x) (rate(c[5m])) > 0.1\nor sum(rate(d[5m])) > 0.1") == [
        "sum by (x) (rate(c[5m]))",
        "sum(rate(d[5m]))",
    ]
    assert alert_series("time() - max(g) > 300") == ["time() - max(g)"]
    assert alert_series("min by (p) (t) < -5") == ["min by (p) (t)"]
    assert alert_series('x{l="a and b"} > 1') == ['x{l="a and b"}']


# ----------------------------------------------------------------- a real Prometheus


@contextlib.contextmanager
def running_prometheus(prometheus: str, pipeline: Endpoints) -> Iterator[str]:
    """Prometheus on a free port, scraping the test pipeline every second."""
    state = scratch_dir("jobcast-prometheus-")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{pipeline.ports[job['job_name']]}"]}]
    (state / "prometheus.yml").write_text(yaml.safe_dump(config))
    [port] = distinct_free_ports(1)
    log = (state / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={state / 'prometheus.yml'}",
            f"--storage.tsdb.path={state / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, (state / "prometheus.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(state, ignore_errors=True)


async def query(http: httpx.AsyncClient, base: str, expr: str) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/api/v1/query", params={"query": expr})
    body = response.json()
    assert response.status_code == 200, f"{expr}: {body}"
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def has_number(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


async def missing_data(
    http: httpx.AsyncClient, base: str, queries: list[tuple[str, str]]
) -> list[str]:
    missing = []
    for where, expr in queries:
        if not has_number(await query(http, base, expr)):
            missing.append(f"{where}: {expr}")
    return missing


# ----------------------------------------------------------------- workload


async def workload(db: asyncpg.Pool, pipeline: Endpoints, http: httpx.AsyncClient) -> None:
    """Every path a panel or rule watches, once: posts, a skip, a failure, a rate limit,
    a dead letter, a token with an expiry."""
    ingest = f"{pipeline.url('ingest')}/v1/job-events"
    auth, _ = await new_tenant(db, pipeline)
    jobs = [f"obs-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for job_id in jobs:
        response = await http.post(ingest, json=job_event(job_id), headers=auth)
        assert response.status_code == 202, response.text
    # One job scheduled a few seconds ahead: the distributor's timer fires it.
    scheduled = f"obs-{uuid.uuid4().hex[:8]}"
    due = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    response = await http.post(ingest, json=job_event(scheduled, publish_at=due), headers=auth)
    assert response.status_code == 202, response.text
    jobs.append(scheduled)
    no_image = f"obs-{uuid.uuid4().hex[:8]}"  # Instagram skips it (no image)
    assert (
        await http.post(ingest, json=job_event(no_image, image_url=None), headers=auth)
    ).is_success

    # A permanent failure on one Page, a rate limit (then success) on another (text posts:
    # `fb.feed`; a post with an image goes to `fb.photos`).
    failing_auth, failing = await new_tenant(db, pipeline, instagram=False)
    await add_fault(http, pipeline, account_id=failing[Platform.FACEBOOK], action="error",
                    code=100, operation="fb.feed", times=1)  # fmt: skip
    failed_job = f"obs-{uuid.uuid4().hex[:8]}"
    assert (
        await http.post(ingest, json=job_event(failed_job, image_url=None), headers=failing_auth)
    ).is_success
    limited_auth, limited = await new_tenant(db, pipeline, instagram=False)
    await add_fault(http, pipeline, account_id=limited[Platform.FACEBOOK], action="error",
                    code=80001, operation="fb.feed", times=1,
                    estimated_time_to_regain_access=0)  # fmt: skip
    limited_job = f"obs-{uuid.uuid4().hex[:8]}"
    assert (
        await http.post(ingest, json=job_event(limited_job, image_url=None), headers=limited_auth)
    ).is_success

    # A record that is not JSON on the raw front door: dead-lettered.
    await send_raw(pipeline.kafka_bootstrap_servers, JOBS_INCOMING, [(b"obs", b"not json")])

    # A connection whose token expires (a 60-day user token); the distributor's
    # verification loop records the expiry, the status gauges export it.
    exchanged = await http.get(
        f"{pipeline.graph_api_url}/v24.0/oauth/access_token",
        params={"grant_type": "fb_exchange_token", "fb_exchange_token": "any",
                "client_id": FAST_TIMERS["GRAPH_APP_ID"],
                "client_secret": FAST_TIMERS["GRAPH_APP_SECRET"]},
    )  # fmt: skip
    assert exchanged.status_code == 200, exchanged.text
    _, quiet = await new_tenant(db, pipeline, instagram=False)
    tenant_id = await db.fetchval(
        "SELECT tenant_id FROM distributor.connections WHERE account_id = $1",
        quiet[Platform.FACEBOOK],
    )
    await add_connection(
        db,
        TokenCipher(SecretStr(pipeline.secret_key)),
        tenant_id=tenant_id,
        platform=Platform.FACEBOOK,
        account_id=f"obs-exp-{uuid.uuid4().hex[:8]}",
        token=exchanged.json()["access_token"],
    )

    for job_id in jobs:
        await until_status(http, pipeline, auth, job_id, {"posted"}, count=2)
    await until_status(http, pipeline, auth, no_image, {"posted", "skipped"}, count=2)
    await until_status(http, pipeline, failing_auth, failed_job, {"failed"})
    await until_status(http, pipeline, limited_auth, limited_job, {"posted"})


async def until_status(
    http: httpx.AsyncClient,
    pipeline: Endpoints,
    auth: dict[str, str],
    job_id: str,
    statuses: set[str],
    *,
    count: int = 1,
) -> None:
    """Wait until `count` posts of the job are in one of `statuses` (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        posts = await wait_for_posts(http, pipeline, auth, job_id, count)
        if [p["status"] for p in posts if p["status"] in statuses][count - 1 :]:
            return
        assert time.monotonic() < deadline, [(p["platform"], p["status"]) for p in posts]
        await asyncio.sleep(0.3)


async def test_every_dashboard_panel_and_rule_has_data_in_a_real_prometheus(
    prometheus_bin: tuple[str, str], db: asyncpg.Pool, running: RunningPipeline
) -> None:
    prometheus, _ = prometheus_bin
    pipeline = running.endpoints
    promql, sql = dashboard_queries()
    queries = promql + rule_queries()
    assert len(promql) >= 40
    assert len(sql) >= 5
    with running_prometheus(prometheus, pipeline) as base:
        async with httpx.AsyncClient(timeout=10) as http:
            # Every service is a healthy target before anything happens, so the counters'
            # increases fall inside what Prometheus saw.
            async with asyncio.timeout(30):
                while True:
                    targets = (await http.get(f"{base}/api/v1/targets")).json()["data"]
                    health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
                    if health == dict.fromkeys(SERVICES, "up"):
                        break
                    await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # a couple of scrapes of the quiet state
            await workload(db, pipeline, http)

            # Gauges refreshed from Postgres (every 15 s) and rates need a few scrapes.
            deadline = time.monotonic() + 90
            while (missing := await missing_data(http, base, queries)) and (
                time.monotonic() < deadline
            ):
                await asyncio.sleep(2)
            assert not missing, "no data for:\n" + "\n".join(missing)

            # Every rule evaluates inside Prometheus without an error.
            groups = (await http.get(f"{base}/api/v1/rules")).json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            assert len(rules) == sum(
                len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"]
            )
            broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
            assert not broken, broken

            # Lag is reported for faststream groups (every partition of every topic they
            # own: a service reads all its topics in one group) as well as for the
            # concurrent consumers (each partition once it has fetched from it).
            lag = await query(http, base, "count by (group) (jobcast_consumer_lag)")
            partitions = {r["metric"]["group"]: int(r["value"][1]) for r in lag}
            size = {spec.name: spec.partitions for spec in CONSUMED}
            distributor = (JOBS_EVENTS, OPERATOR_COMMANDS, CONNECTIONS_EVENTS)
            read_model = (PUBLISH_RESULTS, ENGAGEMENT_EVENTS, PLATFORM_WEBHOOKS, CONNECTIONS_EVENTS)
            assert partitions.get("distributor") == sum(size[t] for t in distributor), partitions
            assert partitions.get("metrics") == sum(size[t] for t in read_model), partitions
            assert partitions.get("publisher-facebook", 0) >= 1, partitions
            assert partitions.get("ingest-incoming", 0) >= 1, partitions

            # The token expiry is per connection and about 60 days out.
            expiry = await query(http, base, "max(jobcast_connection_token_expiry_seconds)")
            assert 50 * 86400 < float(expiry[0]["value"][1]) <= 61 * 86400

    # The engagement dashboard's SQL, against the read model the pipeline just wrote.
    for where, statement in sql:
        rows = await db.fetch(statement)
        assert rows, f"no rows for {where}:\n{statement}"
