"""Real Airflow components as processes on 127.0.0.1, for end-to-end tests.

Each component runs in its own process group (``setsid``), so a test can SIGKILL one component with its
children, and stopping the cluster ends exactly the processes it started.

Starting a cluster (a PostgreSQL database migrated, four components healthy) is most of an e2e module's
time, so the modules that can share one do: :func:`shared_cluster` (the session fixture ``shared_cluster``
in tests/conftest.py) serves the browser tests and tests/e2e/test_real_airflow.py. A module that needs
another topology (CeleryExecutor) starts its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


@contextmanager
def emulator_process(job_seconds: float) -> Iterator[str]:
    """The Evolink emulator as its own process on a free port; yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_evolink.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--job-seconds",
            str(job_seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", line)
    try:
        assert match, f"emulator did not start: {line!r}"
        yield match.group(0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class PostgresDatabase:
    """A throwaway database on the machine's PostgreSQL (127.0.0.1:5432, trust auth)."""

    name: str = field(default_factory=lambda: f"evolink_e2e_{uuid.uuid4().hex[:10]}")
    url: str = ""

    def _admin(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn

    def create(self) -> str:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            conn.close()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.name}"
        return self.url

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=self.name) as conn:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())

    def drop(self) -> None:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            conn.close()


@dataclass
class AirflowCluster:
    """api-server, scheduler, dag-processor and triggerer sharing one AIRFLOW_HOME and metadata DB."""

    home: Path
    db_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    executor: str = "LocalExecutor"
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    jwt_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: (username, password) of one admin of the simple auth manager, for tests that log in as a user would.
    #: None keeps every request an admin without a login (SIMPLE_AUTH_MANAGER_ALL_ADMINS).
    login: tuple[str, str] | None = None
    #: More users of the simple auth manager, as (username, role, password); with a password of None the
    #: auth manager makes one up and writes it to :attr:`passwords_file`.
    extra_users: tuple[tuple[str, str, str | None], ...] = ()
    _token: str | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.login is None),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.login is not None:
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(
                [f"{self.login[0]}:admin", *(f"{name}:{role}" for name, role, _ in self.extra_users)]
            )
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.passwords_file)
        env.update(self.extra_env)
        return env

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def airflow(self, *args: str, timeout: float = 180) -> str:
        result = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "ab")
        process = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_all(
        self, components: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
    ) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.login is not None:
            # The auth manager adds a generated password for a user missing from this file, so the
            # user's own password must be there before the api-server starts.
            passwords = {self.login[0]: self.login[1]}
            passwords.update({name: password for name, _, password in self.extra_users if password})
            self.passwords_file.write_text(json.dumps(passwords))
        self.airflow("db", "migrate")
        commands = {
            "api-server": ("api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
            "scheduler": ("scheduler", "--skip-serve-logs"),
            "dag-processor": ("dag-processor",),
            "triggerer": ("triggerer", "--skip-serve-logs"),
            "celery-worker": ("celery", "worker", "--concurrency", "2", "--skip-serve-logs"),
        }
        for name in components:
            self.start(name, *commands[name])
        wanted = {"scheduler", "triggerer", "dag_processor"} & {c.replace("-", "_") for c in components}
        wait_for(lambda: self._healthy(wanted), 120, "a healthy Airflow")

    def _healthy(self, wanted: set[str]) -> bool:
        health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
        if health["metadatabase"]["status"] != "healthy":
            return False
        return all(health.get(name, {}).get("status") == "healthy" for name in wanted)

    def kill(self, name: str) -> None:
        """SIGKILL the component and its children, as a crash would."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 10
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()

    # ---- REST API ---------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"} if self.login is not None else {}
        response = requests.request(
            method, f"{self.base_url}/api/v2{path}", timeout=30, headers=headers, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def token(self) -> str:
        """An access token for ``login``, from the simple auth manager's token endpoint."""
        if self._token is None:
            assert self.login is not None, "the cluster runs without users: no token needed"
            username, password = self.login
            response = requests.post(
                f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        wait_for(lambda: self.api("GET", f"/dags/{dag_id}"), 120, f"DAG {dag_id} to be parsed")
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": None}
        if conf is not None:
            body["conf"] = conf
        self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")["state"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path, params={"deserialize": "true"})["value"]

    def log_text(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


#: The shared cluster's admin (the simple auth manager, signed in as a user would: no all-admins shortcut).
SHARED_LOGIN = ("admin", "browser-test-Pw-7c41")
#: The key of the shared cluster's ``evolink_default`` (an environment variable, as a deployment would set
#: it); tests/e2e/test_real_airflow.py searches every log and table for it.
SHARED_SECRET_KEY = "sk-e2e-secret-5d1c9a"
#: A second admin, who answers the review questions (tests/browser/test_review.py).
SHARED_REVIEWER = ("reviewer", "review-test-Pw-91d3")
#: A ``user``-role account kept out of some DAGs by tests/plugins/restricted_auth.py (the gallery's attack
#: and review tests); the auth manager makes up its password and writes it to ``passwords_file``.
SHARED_OUTSIDER = "outsider"
#: The one media host the gallery may redirect to ([evolink] gallery_media_hosts); the emulator is not it.
SHARED_MEDIA_HOST = "https://media.example.test"
#: Short jobs by default; a test that needs a long one asks the emulator for it (``/_emulator/jobs``).
SHARED_JOB_SECONDS = 3.0


@dataclass
class SharedCluster:
    airflow: AirflowCluster
    emulator: str
    database: PostgresDatabase

    def emulator_control(self, method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(method, f"{self.emulator}/_emulator/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()


@contextmanager
def shared_cluster() -> Iterator[SharedCluster]:
    """api-server, scheduler, dag-processor and triggerer (LocalExecutor) on PostgreSQL, and the emulator.

    Logs at DEBUG (so the secret scan reads the most verbose logs there are), connection testing enabled
    (the UI's Test button), two admins with passwords and one ``user`` kept out of some DAGs
    (tests/plugins/restricted_auth.py), and one allowed media host for the gallery's redirects.
    """
    database = PostgresDatabase()
    database.create()
    home = Path(tempfile.mkdtemp(prefix="evolink-e2e-"))
    try:
        with emulator_process(SHARED_JOB_SECONDS) as emulator:
            # The host without the port and the port on its own, as the browser tests store their
            # evolink_default too: Airflow's connection test compares host and port with this one (an
            # environment variable comes first), and refuses a test whose host or port differs.
            scheme, _, port = emulator.rpartition(":")
            connection = {
                "conn_type": "evolink",
                "host": scheme,
                "port": int(port),
                "password": SHARED_SECRET_KEY,
            }
            airflow = AirflowCluster(
                home=home,
                db_url=database.url,
                login=SHARED_LOGIN,
                extra_users=(
                    (SHARED_REVIEWER[0], "admin", SHARED_REVIEWER[1]),
                    (SHARED_OUTSIDER, "user", None),
                ),
                extra_env={
                    "PYTHONPATH": str(REPO),
                    "AIRFLOW__CORE__AUTH_MANAGER": "tests.plugins.restricted_auth.RestrictedSimpleAuthManager",
                    "AIRFLOW__EVOLINK__GALLERY_MEDIA_HOSTS": SHARED_MEDIA_HOST,
                    "AIRFLOW_CONN_EVOLINK_DEFAULT": json.dumps(connection),
                    "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
                    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                },
            )
            try:
                airflow.start_all()
                yield SharedCluster(airflow, emulator, database)
            finally:
                airflow.stop()
    finally:
        database.drop()
