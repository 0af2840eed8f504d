"""Baselines for `make bench-e2e`, measured on the same broker in the same run.

(a) The broker's own limit: Kafka's ProducerPerformance and ConsumerPerformance (the
    `kafka-tools` jar, fetched once next to the broker's jars) at the pipeline's record size.
(b) A raw aiokafka relay with the pipeline's three Kafka hops and fan-out, and nothing
    else (no HTTP, validation, database or Graph call): load → relay.jobs → "distributor"
    (one record in, one per platform out) → relay.facebook / relay.instagram → two
    "publishers" → relay.results → a sink counting results. Each stage is its own process,
    like the services; delivery settings match theirs (idempotent producer, acks=all,
    offsets committed after the stage's records were written).

    python -m bench.baselines relay-stage --source T --sink T [--sink T ...]  (one stage)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from devtools.devstack.kafka import KAFKA_VERSION, cache_root, ensure_kafka_jars

PARTITIONS = 6  # as the pipeline's topics
RELAY_TOPICS = ("jobs", "facebook", "instagram", "results")


def ensure_kafka_tools() -> str:
    """The classpath for Kafka's CLI tools: the broker's jars plus `kafka-tools`.

    `kafka-tools` stays out of the broker's pom (it is only for benchmarks); its one jar
    is copied from Maven Central (through ~/.m2) the first time, with the pinned plugin.
    """
    libs = ensure_kafka_jars()
    tools = cache_root() / f"kafka-{KAFKA_VERSION}" / "tools"
    if not list(tools.glob(f"kafka-tools-{KAFKA_VERSION}.jar")):
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (mvn) is needed to fetch kafka-tools")
        done = subprocess.run(
            [mvn, "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:2.8:copy",
             f"-Dartifact=org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
             f"-DoutputDirectory={tools}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"mvn could not fetch kafka-tools:\n{done.stdout}{done.stderr}")
    return f"{libs}/*:{tools}/*"


async def create_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


@dataclass(frozen=True)
class BrokerLimit:
    produce_per_second: float
    produce_mb_per_second: float
    produce_avg_ms: float
    consume_per_second: float
    consume_mb_per_second: float


def _java(classpath: str, main: str, *args: str) -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is needed for Kafka's perf tools")
    done = subprocess.run(
        [java, "-Xmx512m", "-cp", classpath, main, *args],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{main} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def broker_limit(bootstrap: str, record_size: int, records: int) -> BrokerLimit:
    """ProducerPerformance then ConsumerPerformance on a fresh 6-partition topic."""
    classpath = ensure_kafka_tools()
    topic = f"bench.broker.{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topics(bootstrap, [topic]))
    out = _java(
        classpath, "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true", "linger.ms=5", "batch.size=262144",
    )  # fmt: skip
    # "N records sent, X records/sec (Y MB/sec), Z ms avg latency, ..." (the last line)
    summary = re.findall(
        r"records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency", out
    )[-1]
    out = _java(
        classpath, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(records),
        "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "60000",
    )  # fmt: skip
    # header: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
    # nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
    fields = [f.strip() for f in out.strip().splitlines()[-1].split(",")]
    return BrokerLimit(
        produce_per_second=float(summary[0]),
        produce_mb_per_second=float(summary[1]),
        produce_avg_ms=float(summary[2]),
        consume_per_second=float(fields[9]),  # fetch rate: the group's join time excluded
        consume_mb_per_second=float(fields[8]),
    )


# -- the raw relay ---------------------------------------------------------------------


async def relay_stage(bootstrap: str, source: str, sinks: Sequence[str], group: str) -> None:
    """Forever: read `source`, write each record to every sink (same key), commit."""
    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=500,
    )  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5,
        max_batch_size=262_144,
    )  # fmt: skip
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            sends = [
                await producer.send(sink, record.value, key=record.key)
                for records in batches.values()
                for record in records
                for sink in sinks
            ]
            if sends:
                await asyncio.gather(*sends)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


@dataclass(frozen=True)
class RelayResult:
    jobs: int
    seconds: float
    steady_jobs_per_second: float

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds


async def _run_relay(bootstrap: str, prefix: str, value: bytes, jobs: int) -> RelayResult:
    jobs_topic, results = f"{prefix}.jobs", f"{prefix}.results"
    sink = AIOKafkaConsumer(
        results, bootstrap_servers=bootstrap, group_id=f"{prefix}-sink",
        auto_offset_reset="earliest", max_poll_records=2000,
    )  # fmt: skip
    await sink.start()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5, max_batch_size=262_144
    )
    await producer.start()
    seen = 0
    done_at: list[float] = []
    try:
        started = time.monotonic()
        sends = [await producer.send(jobs_topic, value, key=f"job-{n}".encode())
                 for n in range(jobs)]  # fmt: skip
        await asyncio.gather(*sends)
        async with asyncio.timeout(600):
            while seen < 2 * jobs:
                for records in (await sink.getmany(timeout_ms=200)).values():
                    seen += len(records)
                    done_at += [time.monotonic()] * len(records)
        seconds = max(done_at) - started
    finally:
        await producer.stop()
        await sink.stop()
    done_at.sort()
    low, high = done_at[len(done_at) // 20], done_at[len(done_at) * 19 // 20]
    return RelayResult(jobs, seconds, (len(done_at) * 0.9 / 2) / max(high - low, 1e-6))


def raw_relay(bootstrap: str, value: bytes, jobs: int, state_dir: Path) -> RelayResult:
    """Start the three stage processes, push `jobs` records through, stop them."""
    prefix = f"bench.relay.{uuid.uuid4().hex[:6]}"
    jobs_topic, fb, ig, results = (f"{prefix}.{t}" for t in RELAY_TOPICS)
    asyncio.run(create_topics(bootstrap, [jobs_topic, fb, ig, results]))
    stages = [
        ("distributor", jobs_topic, [fb, ig]),
        ("publisher-facebook", fb, [results]),
        ("publisher-instagram", ig, [results]),
    ]
    processes = []
    try:
        for name, source, sinks in stages:
            args = [sys.executable, "-m", "bench.baselines", "relay-stage", "--bootstrap",
                    bootstrap, "--source", source, "--group", f"{prefix}-{name}"]  # fmt: skip
            for sink_topic in sinks:
                args += ["--sink", sink_topic]
            log = (state_dir / f"relay-{name}.log").open("wb")
            processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        time.sleep(3.0)  # let the stages join their groups before the clock starts
        return asyncio.run(_run_relay(bootstrap, prefix, value, jobs))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    stage = commands.add_parser("relay-stage")
    stage.add_argument("--bootstrap", required=True)
    stage.add_argument("--source", required=True)
    stage.add_argument("--sink", action="append", required=True)
    stage.add_argument("--group", required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(relay_stage(args.bootstrap, args.source, args.sink, args.group))


if __name__ == "__main__":
    main()
