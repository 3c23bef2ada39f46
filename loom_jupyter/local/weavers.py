"""Weavers as local processes: their records (SQLite), lifecycle, expiry and restart recovery.

A weaver is `pending` while it starts, `running` while its process lives, then `succeeded`
(exit 0) or `failed`; `terminating` between a delete and the process's end, after which the
weaver is gone (404), as a deleted pod is. Logs live in `<data-dir>/weavers/<id>.log`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import ApiError
from .config import LocalConfig
from .store import Store, parse_timestamp, utc_now
from .weaver_logs import LogRing
from .weaver_process import Launch, PtyProcess
from .weaver_request import WeaverSpec

log = logging.getLogger("loom_jupyter.local")
ACTIVE = ("pending", "running")
LIVE = ("pending", "running", "terminating")
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


def uuid7() -> str:
    """A time-ordered UUIDv7, Loom's weaver id format (§4.1)."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def default_shell() -> list[str]:
    return ["/bin/bash", "-i"] if Path("/bin/bash").exists() else ["/bin/sh", "-i"]


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Weaver:
    id: str
    owner_user_id: str
    org_id: str
    status: str
    created_at: str
    data: dict[str, Any]
    ring: LogRing
    process: PtyProcess | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    deleting: bool = False

    def age_hours(self, hour_seconds: float) -> float:
        return max(0.0, (time.time() - parse_timestamp(self.created_at)) / hour_seconds)

    def to_json(self, hour_seconds: float) -> dict[str, Any]:
        out = {"id": self.id, "pod_name": f"weaver-{self.id}", "status": self.status,
               "created_at": self.created_at, "image": self.data["image"],
               "tags": self.data["tags"], "lifetime_hours": self.data["lifetime_hours"],
               "age_hours": round(self.age_hours(hour_seconds), 4),
               "owner_user_id": self.owner_user_id}
        if self.data.get("reason"):
            out["reason"] = self.data["reason"]
        return out


class WeaverManager:
    """Every weaver of this server, in memory and in SQLite."""

    def __init__(self, config: LocalConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.dir = config.data_dir / "weavers"
        self._weavers: dict[str, Weaver] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- startup and shutdown -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the records; a weaver whose process died with an earlier server is `failed`."""
        self.dir.mkdir(mode=0o700, exist_ok=True)
        for row in self.store.all("SELECT * FROM weavers WHERE deleted_at IS NULL"):
            data = json.loads(row["data"])
            status = row["status"]
            if status in LIVE:
                status, data["reason"] = "failed", "process lost: the local server was restarted"
            weaver = Weaver(row["id"], row["owner_user_id"], row["org_id"], status,
                            row["created_at"], data, LogRing.reopen(self._log_path(row["id"])))
            self._weavers[weaver.id] = weaver
            self._save(weaver)
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def stop(self) -> None:
        """Stop every process (they must not outlive the server) and record why."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        running = [w for w in self._weavers.values() if w.task is not None and not w.task.done()]
        for weaver in running:
            weaver.data["reason"] = "stopped with the local server"
            assert weaver.process is not None
            weaver.process.terminate()
        tasks = [w.task for w in running if w.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=3)
            for weaver in running:
                if weaver.task in pending and weaver.process is not None:
                    weaver.process.kill()
            if pending:
                await asyncio.wait(pending, timeout=2)

    # -- queries ------------------------------------------------------------------------------

    def get(self, weaver_id: str) -> Weaver:
        """The weaver, or 400 for an id that is not a UUID and 404 for an unknown one (§4.4)."""
        try:
            uuid.UUID(weaver_id)
        except ValueError:
            raise ApiError(400, "bad_request", f"invalid id: {weaver_id[:64]!r}") from None
        weaver = self._weavers.get(weaver_id.lower())
        if weaver is None:
            raise ApiError(404, "weaver_not_found", f"Weaver not found: {weaver_id}")
        return weaver

    def all(self) -> list[Weaver]:
        return sorted(self._weavers.values(), key=lambda w: w.created_at)

    def expired(self) -> list[Weaver]:
        hour = self.config.weaver_hour_seconds
        return [w for w in self.all()
                if not w.deleting and w.age_hours(hour) >= w.data["lifetime_hours"]]

    def json(self, weaver: Weaver) -> dict[str, Any]:
        return weaver.to_json(self.config.weaver_hour_seconds)

    # -- create and delete --------------------------------------------------------------------

    async def create(self, spec: WeaverSpec, owner_user_id: str) -> Weaver:
        """Start the process and return once it runs (or has already ended), like Loom (§4.2)."""
        active = sum(w.status in ACTIVE for w in self._weavers.values())
        if active >= self.config.max_weavers:
            raise ApiError(429, "too_many_weavers",
                           f"{active} weavers running (max: {self.config.max_weavers})")
        weaver_id = uuid7()
        home = self.dir / weaver_id
        home.mkdir(mode=0o700)
        try:
            launch = self._launch(spec, weaver_id, home)
        except ValueError as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise ApiError(400, "bad_request", str(exc)) from None
        weaver = Weaver(weaver_id, owner_user_id, spec.org_id, "pending", utc_now(),
                        _record(spec), LogRing(self._log_path(weaver_id)))
        self._weavers[weaver_id] = weaver
        self._save(weaver)
        process = PtyProcess(weaver.ring.feed)
        try:
            await process.start(launch)
        except OSError as exc:
            reason = f"cannot start {launch.argv[0]}: {exc.strerror or exc}"
            self._finish(weaver, "failed", reason)
            raise ApiError(500, "provisioner_error",
                           f"Weaver {weaver_id} failed: {reason}") from None
        weaver.process, weaver.status = process, "running"
        self._save(weaver)
        weaver.task = asyncio.ensure_future(self._supervise(weaver))
        return weaver

    def delete(self, weaver: Weaver) -> None:
        """Stop the process (grace period, then SIGKILL); the weaver disappears when it ends."""
        if weaver.deleting:
            return
        weaver.deleting = True
        if weaver.task is None or weaver.task.done():
            self._forget(weaver)
            return
        weaver.status = "terminating"
        self._save(weaver)
        assert weaver.process is not None
        weaver.process.terminate()
        asyncio.get_running_loop().call_later(self.config.weaver_grace_seconds,
                                              weaver.process.kill)

    def cleanup(self, dry_run: bool) -> list[str]:
        """Delete (or list) every expired weaver; returns their ids (§4.5)."""
        doomed = self.expired()
        if not dry_run:
            for weaver in doomed:
                self.delete(weaver)
        return [w.id for w in doomed]

    # -- internals ----------------------------------------------------------------------------

    def _launch(self, spec: WeaverSpec, weaver_id: str, home: Path) -> Launch:
        cwd = home if spec.workdir is None else home / spec.workdir
        if spec.workdir is not None and not Path(spec.workdir).is_absolute():
            cwd.mkdir(parents=True, exist_ok=True)
        if not cwd.is_dir():
            raise ValueError(f"workdir {spec.workdir} does not exist")
        # A clean environment: nothing of the server's (its keys above all) leaks into a weaver.
        env = {k: os.environ[k] for k in _BASE_ENV if k in os.environ}
        env.update(HOME=str(home), TERM="xterm-256color", LOOM_WEAVER_ID=weaver_id,
                   HOSTNAME=f"weaver-{weaver_id}")
        env.update(spec.env)
        argv = (spec.command or default_shell()) + (spec.args or [])
        return Launch(argv=argv, env=env, cwd=str(cwd), memory_bytes=spec.memory_bytes)

    async def _supervise(self, weaver: Weaver) -> None:
        assert weaver.process is not None
        code = await weaver.process.wait()
        weaver.ring.close()
        if weaver.deleting:
            self._forget(weaver)
        else:
            self._finish(weaver, "succeeded" if code == 0 else "failed",
                         None if code == 0 else _exit_reason(code))

    def _finish(self, weaver: Weaver, status: str, reason: str | None) -> None:
        weaver.status = status
        if reason and not weaver.data.get("reason"):
            weaver.data["reason"] = reason
        if not weaver.ring.closed:
            weaver.ring.close()
        self._save(weaver)

    def _forget(self, weaver: Weaver) -> None:
        self._weavers.pop(weaver.id, None)
        self.store.execute("UPDATE weavers SET deleted_at = ?, status = ? WHERE id = ?",
                           (utc_now(), "deleted", weaver.id))
        if not weaver.ring.closed:
            weaver.ring.close()
        shutil.rmtree(self.dir / weaver.id, ignore_errors=True)
        self._log_path(weaver.id).unlink(missing_ok=True)

    def _save(self, weaver: Weaver) -> None:
        self.store.execute(
            "INSERT INTO weavers (id, owner_user_id, org_id, status, created_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
            "data = excluded.data",
            (weaver.id, weaver.owner_user_id, weaver.org_id, weaver.status, weaver.created_at,
             json.dumps(weaver.data)))

    def _log_path(self, weaver_id: str) -> Path:
        return self.dir / f"{weaver_id}.log"

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval)
            try:
                if ids := self.cleanup(dry_run=False):
                    log.info("deleted %d expired weaver(s)", len(ids))
            except Exception:  # the sweeper must survive one bad pass
                log.exception("weaver cleanup failed")


def _record(spec: WeaverSpec) -> dict[str, Any]:
    """What is kept in SQLite: env values are not (they may be secrets), only their names."""
    return {"image": spec.image, "tags": spec.tags, "lifetime_hours": spec.lifetime_hours,
            "command": spec.command, "args": spec.args, "workdir": spec.workdir,
            "resources": {k: v for k, v in (("memory_limit", spec.memory_limit),
                                            ("cpu_limit", spec.cpu_limit)) if v},
            "env_names": sorted(spec.env)}
