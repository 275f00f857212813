"""`--engine spark` over Spark Connect: a Connect server on this machine (the one
pyspark ships, started with `spark-submit`, `local[2]`) gives DuckDB's invoices.

One server serves the module (its JVM takes seconds to start), with the JVM
options of every Spark JVM the tests start (tests/spark_helpers.py). This
process holds no local session while the client lives (`no_local_spark`). Skipped, with the
reason, when pyspark, its Connect client (`pip install 'pyspark[connect]'`) or
Java is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
pytest.importorskip("grpc", reason="the Spark Connect client is not installed (pip install 'pyspark[connect]')")
pytest.importorskip("pandas", reason="the Spark Connect client is not installed (pip install 'pyspark[connect]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from ratecard.usage import spark as spark_engine  # noqa: E402

from render_helpers import run_cli  # noqa: E402
from spark_helpers import DRIVER_MEMORY, JVM_OPTIONS, SPARK, spy_on_spark_rating  # noqa: E402
from warehouse_helpers import CASES, CONFORMANCE, case_args, split_args  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.spark_connect, pytest.mark.xdist_group(SPARK)]
SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory, no_local_spark):
    home = Path(pyspark.__file__).parent
    submit = home / "bin" / "spark-submit"
    if not submit.exists():
        pytest.skip(f"pyspark has no {submit} to start a Connect server with")
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    with open(log, "wb") as err:
        server = subprocess.Popen(
            [str(submit), "--class", SERVER, "--master", "local[2]", "--driver-memory", DRIVER_MEMORY,
             "--driver-java-options", JVM_OPTIONS,
             "--conf", f"spark.connect.grpc.binding.port={port}",
             "--conf", "spark.sql.shuffle.partitions=2", "--conf", "spark.ui.enabled=false"],
            env={**os.environ, "SPARK_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Spark Connect server did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.5)
        url = f"sc://127.0.0.1:{port}"
        yield url
        # close the client first: at exit it would call the stopped server, retrying for minutes
        spark_engine.session(url).stop()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()



@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
def test_conformance_invoices_over_connect(connect_url, monkeypatch, capsys):
    """With --spark-master sc://..., and with SPARK_REMOTE and no --spark-master;
    one case sends the contract relations as temp views (createDataFrame)."""
    for name in [c for c in CASES if c.startswith(("01", "05"))]:
        args = case_args(name)
        duck = run_cli(args, CONFORMANCE / name, monkeypatch, capsys)
        assert duck[0] == 0, duck[2]
        if name.startswith("05"):
            monkeypatch.setattr(spark_engine, "INLINE_LIMIT", 0)
            monkeypatch.setenv("SPARK_REMOTE", connect_url)
            remote = run_cli([*args, "--engine", "spark"], CONFORMANCE / name, monkeypatch, capsys)
            monkeypatch.delenv("SPARK_REMOTE")
        else:
            remote = run_cli([*args, "--engine", "spark", "--spark-master", connect_url],
                          CONFORMANCE / name, monkeypatch, capsys)
        assert remote == duck, name


@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
def test_usage_table_over_connect(connect_url, monkeypatch, capsys):
    """A global temporary view (visible to every session of the server) as --usage-table."""
    name = CASES[0]
    args = case_args(name)
    paths, contracts, usage, through = split_args(args)
    folder = CONFORMANCE / name
    spark = spark_engine.session(connect_url)
    spark.read.json([str(folder / u) for u in usage]).createOrReplaceGlobalTempView("usage_events")
    duck = run_cli(args, folder, monkeypatch, capsys)
    common = [*paths, *[a for c in contracts for a in ("--contracts", c)], "--through", through]
    on_table = run_cli(["invoice", *common, "--usage-table", "global_temp.usage_events",
                     "--engine", "spark", "--spark-master", connect_url], folder, monkeypatch, capsys)
    assert duck[0] == 0 and on_table == duck
    code, _, err = run_cli(["invoice", *common, "--usage-table", "global_temp.no_such_events",
                         "--engine", "spark", "--spark-master", connect_url], folder, monkeypatch, capsys)
    assert code == 1 and "cannot read usage table `global_temp.no_such_events`" in err


@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
def test_price_in_engine_over_connect(connect_url, monkeypatch, capsys):
    """`--price-in engine` over Spark Connect (conformance case 08: tiers and packages; the
    rating itself is held to the Python pricer on local Spark, tests/test_spark_rating.py):
    the lines are rated by the server (every
    aggregate row comes back with its amount, so this cannot pass by leaving the lines to
    Python) and the invoices are DuckDB's with the Python pricer, byte for byte."""
    seen = spy_on_spark_rating(monkeypatch)
    for name in [c for c in CASES if c.startswith("08")]:  # unit, graduated, volume and package lines
        args = case_args(name)
        duck = run_cli([*args, "--price-in", "python"], CONFORMANCE / name, monkeypatch, capsys)
        assert duck[0] == 0, duck[2]
        seen.clear()
        remote = run_cli([*args, "--engine", "spark", "--spark-master", connect_url, "--price-in", "engine"],
                         CONFORMANCE / name, monkeypatch, capsys)
        assert remote == duck, name
        agg = [row for row in seen if row["kind"] == "agg"]
        assert agg and all(row["rc_amount"] is not None for row in agg), (name, seen)


def test_an_unreachable_server_fails_at_once(monkeypatch, capsys, tmp_path):
    """The Connect client would retry for minutes; ratecard checks the address first."""
    (tmp_path / "p.pricing").write_text(
        'meter M { event "x" count rates { default : $1 } }\nplan p { billing monthly charge M }\n'
        'contract c { customer "a" plan p starts 2026-01-01 }\n', encoding="utf-8")
    (tmp_path / "u.jsonl").write_text(
        '{"id":"1","type":"x","customer":"a","time":"2026-01-02T00:00:00Z"}\n', encoding="utf-8")
    started = time.monotonic()
    code, out, err = run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                           "--engine", "spark", "--spark-master", f"sc://127.0.0.1:{_free_port()}"],
                          tmp_path, monkeypatch, capsys)
    assert code == 1 and time.monotonic() - started < 30
    assert "E501" in err and "cannot reach Spark Connect at 127.0.0.1:" in err
    assert "pyspark[connect]" in err
