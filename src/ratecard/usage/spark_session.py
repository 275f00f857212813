"""The Spark session a run uses: local, a cluster master, or Spark Connect.

pyspark is imported only when a session starts: the rest of ratecard, and
`ratecard sql --dialect spark`, need nothing but sqlglot.
"""

from __future__ import annotations

import os
import warnings


def session(master: str | None = None, threads: int | None = None):
    """The Spark session: Spark Connect when `master` is `sc://...` or SPARK_REMOTE
    is set, else a local or cluster master (default `local[*]`)."""
    with warnings.catch_warnings():
        # pyspark checks pandas' version as it imports parts of itself; ratecard does not use pandas
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                category=FutureWarning)
        return _session(master, threads)


def _session(master: str | None, threads: int | None):
    from pyspark.sql import SparkSession

    remote = connect_url(master)
    if remote:
        _check_reachable(remote)
        spark = SparkSession.builder.remote(remote).getOrCreate()
    else:
        active = SparkSession.getActiveSession()
        if active is not None and (master is None or active.sparkContext.master == master):
            spark = active
        else:
            master = master or (f"local[{threads}]" if threads else "local[*]")
            builder = (SparkSession.builder.master(master).appName("ratecard")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.session.timeZone", "UTC"))
            if master.startswith("local"):
                # One shuffle partition per core, and no adaptive re-planning: on one
                # machine there are no idle tasks to coalesce and no skew to split, and
                # the relations are broadcast anyway. Either way the results are the same.
                builder = (builder.config("spark.sql.shuffle.partitions", str(_local_cores(master)))
                           .config("spark.sql.adaptive.enabled", "false"))
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def connect_url(master: str | None) -> str | None:
    """The Spark Connect URL a run uses: `master` when it is `sc://...`, else
    $SPARK_REMOTE when no master is given; None for a classic master."""
    if master:
        return master if master.startswith("sc://") else None
    return os.environ.get("SPARK_REMOTE") or None


CONNECT_PORT = 15002  # Spark Connect's default port
CONNECT_TIMEOUT = 10.0  # seconds to open a connection to a Spark Connect server


def _check_reachable(url: str) -> None:
    """Fail fast when nothing listens at a Spark Connect URL (`sc://host[:port]/;...`).

    The Connect client retries an unreachable server with backoff for minutes
    before it gives up; a run that cannot reach its engine should say so at once.
    """
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or CONNECT_PORT
    except ValueError as exc:
        raise ConnectionError(f"not a Spark Connect URL: `{url}` ({exc})") from None
    if not host:
        raise ConnectionError(f"not a Spark Connect URL: `{url}` (expected sc://HOST:PORT)")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach Spark Connect at {host}:{port}: "
                              f"{exc.strerror or exc}") from None


def _local_cores(master: str) -> int:
    """N of `local[N]` (`local[*]`, `local`: the machine's cores; `local[N, F]` too)."""
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
    first = inside.split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else (os.cpu_count() or 1)
