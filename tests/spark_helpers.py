"""How the tests start Spark: one local session for the whole test run, and the
JVM options every Spark JVM the tests start is given (the local session's and
the Spark Connect server's).

The tests' Spark work is many small queries, each planned and code-generated
anew, not long jobs: the JVM's optimizing (C2) compiler spends more CPU
compiling than its code ever saves, and on a busy machine with two cores its
threads and the parallel collector's compete with the query itself. C1 only and
the serial collector halve the Spark tests' time (tests/test_spark.py, measured
back to back) and change nothing a query computes. A developer's own
PYSPARK_SUBMIT_ARGS, if set, is kept.

The one session runs every Spark test of the run, some of them the long
division SQL of derived quantities, whose generated code is large: with
Spark's default 1 GB driver heap the JVM ran out of heap (`OutOfMemoryError:
Java heap space`) late in a CI run and died, failing the tests after it.
DRIVER_MEMORY gives it room; the machines have 24 GiB.
"""

from __future__ import annotations

import os

MASTER = "local[2]"
# The pytest-xdist groups of the Spark tests (`make test` runs two workers): each
# group runs in one worker, which starts its own local session; the two together
# are most of the suite's time, so each worker takes one, first. Spark Connect's
# tests are in SPARK, after its local tests (tests/conftest.py).
SPARK, SPARK_2 = "spark", "spark-2"
SPARK_GROUPS = (SPARK, SPARK_2)
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
DRIVER_MEMORY = "3g"
# set by pyspark once a process has made a Spark Connect session: from then on it
# refuses to start a classic (local) session in that process
CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"


def use_test_jvm_options() -> None:
    """The local session's JVM (started by pyspark through spark-submit) gets JVM_OPTIONS."""
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", f'--driver-memory {DRIVER_MEMORY} --driver-java-options "{JVM_OPTIONS}" pyspark-shell')


class LocalSpark:
    """The test run's one local Spark session, started when a test first needs it.

    A Python process holds either classic sessions or a Spark Connect client, not
    both (pyspark refuses): `stop` ends the local one before the Connect tests make
    their client, and `connect_done` lets the next test start a local one again.
    """

    def __init__(self) -> None:
        self.session = None

    def start(self):
        from ratecard.usage import spark as spark_engine

        if self.session is None:
            self.session = spark_engine.session(MASTER)
        return self.session

    def stop(self) -> None:
        """End the local session. A JVM that already died (it is a separate process)
        cannot be asked to stop: pyspark's handles on it are dropped instead, so that
        the Connect tests, and a later local session, still start."""
        if self.session is None:
            return
        session, self.session = self.session, None
        try:
            session.stop()
        except Exception:  # noqa: BLE001 - py4j raises plain connection errors for a dead JVM
            _forget_dead_jvm(session)

    @staticmethod
    def connect_done(was_set: bool) -> None:
        if not was_set:
            os.environ.pop(CONNECT_MODE, None)


def _forget_dead_jvm(session) -> None:
    """Drop pyspark's process-wide handles on a JVM that is gone, as `stop` would have."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession
    from pyspark.sql.context import SQLContext

    context = session.sparkContext
    try:
        context.stop()  # its JVM handle is already cleared: this ends the Python side only
    except Exception:  # noqa: BLE001
        pass
    gateway = SparkContext._gateway
    if gateway is not None:
        try:
            gateway.shutdown()
        except Exception:  # noqa: BLE001 - the gateway's process is already gone
            pass
    SparkContext._active_spark_context = None
    SparkContext._gateway = None
    SparkContext._jvm = None
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    SQLContext._instantiatedContext = None


def spy_on_spark_rating(monkeypatch) -> list:
    """The rows every call of `spark_rating.rate` returns in this test, gathered in the
    list returned (the rating runs where billing calls it: the spy proves it ran)."""
    from ratecard.usage import spark_rating

    seen: list = []
    rate = spark_rating.rate

    def spy(*args, **kwargs):
        rows = rate(*args, **kwargs)
        seen.extend(rows)
        return rows

    monkeypatch.setattr(spark_rating, "rate", spy)
    return seen
