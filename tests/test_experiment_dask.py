"""The same tiny grid on a real Dask cluster (a scheduler and two workers on 127.0.0.1) gives
artifacts with the same content hashes as the local process pool."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from maskkit.experiment.grid import parse_grid
from maskkit.experiment.runner import run_experiment
from tests.test_experiment import TINY

distributed = pytest.importorskip(
    "distributed", reason="Dask distributed is not installed (pip install 'maskkit[distributed]')"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask() -> list[str]:
    exe = shutil.which("dask", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "distributed.cli.dask_spec"]


@pytest.fixture
def cluster(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    with open(tmp_path / "dask.log", "wb") as log:
        yield from _start(address, port, common, env, log, tmp_path)


def _start(address, port, common, env, log, tmp_path):
    procs = [
        subprocess.Popen(
            [*_dask(), "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            cwd=tmp_path,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [
                    *_dask(),
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--memory-limit",
                    "0",
                    "--host",
                    "127.0.0.1",
                    "--name",
                    f"w{i}",
                    "--local-directory",
                    str(tmp_path / f"w{i}"),
                    *common,
                ],
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
                cwd=tmp_path,
            )
        )
    try:
        client = distributed.Client(address, timeout="30s")
        client.wait_for_workers(2, timeout=60)
        yield client
        client.close()
    finally:
        for p in reversed(procs):  # the processes this fixture started, by id
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _hashes(path) -> dict[str, str]:
    con = sqlite3.connect(path / "index.sqlite")
    try:
        return dict(con.execute("SELECT node_id, content_sha256 FROM nodes"))
    finally:
        con.close()


def test_dask_cluster_gives_the_local_artifacts(cluster, tmp_path):
    grid = parse_grid(TINY)
    local = tmp_path / "local"
    remote = tmp_path / "dask"
    assert run_experiment(grid, str(local), jobs=2, threads=1).ok
    started = time.monotonic()
    summary = run_experiment(
        grid, str(remote), executor=cluster.get_executor(pure=False), slots=2, threads=1
    )
    assert summary.ok and summary.ran == summary.nodes == 38, time.monotonic() - started
    expected = _hashes(local)
    assert len(expected) == 38 and None not in expected.values()
    assert _hashes(remote) == expected

    # both workers took part: each has set up torch for a node (threads fixed to 1)
    def ran_a_node() -> bool:  # (nested, so Dask ships it by value: tests/ is not installed)
        from maskkit.experiment import nodes

        return nodes._THREADS == [1]

    ran = cluster.run(ran_a_node)
    assert len(ran) == 2 and all(ran.values()), ran


def test_unreachable_scheduler_is_one_line(tmp_path):
    from click.testing import CliRunner

    from maskkit_cli.main import cli

    grid = tmp_path / "grid.toml"
    grid.write_text(TINY)
    port = _free_port()  # nothing listens there
    result = CliRunner().invoke(
        cli,
        [
            "experiment",
            "run",
            str(grid),
            "-o",
            str(tmp_path / "r"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            "--connect-timeout",
            "1",
        ],
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], result.output
