"""Weavers as local processes: their records (SQLite), lifecycle, expiry and restart recovery.

A weaver is `pending` while it starts, `running` while its process lives, then `succeeded`
(exit 0) or `failed`; `terminating` between a delete and the process's end, after which the
weaver is gone (404), as a deleted pod is. Each runs under its own host process
(weaver_host.py), which outlives the server as a pod outlives Loom's API server: a server that
starts adopts the weavers whose host still runs and marks only the truly lost ones `failed`.
A clean stop (SIGINT/SIGTERM) stops the weavers too, unless `keep_weavers` is set. Logs live
in `<data-dir>/weavers/<id>.log` (see weaver_files.py for the rest).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.models.ids import uuid7
from .config import LocalConfig
from .errors import InvalidRequest, NotAllowed, ProvisionFailed, TooManyWeavers, WeaverNotFound
from .principal import Principal
from .store import Store, parse_timestamp, utc_now
from .store_weavers import WeaverRows
from .weaver_files import HostFiles
from .weaver_logs import LogRing
from .weaver_process import Ended, Launch, StartFailed, WeaverProcess
from .weaver_request import WeaverSpec

log = logging.getLogger("loom_jupyter.local")
# Loom's weaver statuses (loom-api.md §4.1), kept here ON PURPOSE instead of imported from the
# client's vocabulary (client/models/weavers.py): this server is the check on the client, so a
# change on the client's side must not silently change what the server answers.
STATUSES = ("pending", "running", "succeeded", "failed", "terminating")
ACTIVE = ("pending", "running")  # count against max_weavers
LIVE = ("pending", "running", "terminating")  # a process may still exist
_BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
_LOST = "its weaver host is gone (the local server was restarted)"


def default_shell() -> list[str]:
    return ["/bin/bash", "-i"] if Path("/bin/bash").exists() else ["/bin/sh", "-i"]


def _exit_reason(ended: Ended) -> str:
    code = ended.code
    if code is None:
        return f"process lost: {ended.lost}"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def parse_tag_filters(values: list[str]) -> list[tuple[str, str]]:
    """`?tag=k:v` values, split at the first `:` as Loom does (§4.3).

    Loom's server rule, kept apart from the client's stricter parser (client/models/tags.py)
    on purpose: this server must accept whatever Loom accepts.
    """
    filters = []
    for value in values:
        key, sep, wanted = value.partition(":")
        if not sep or not key:
            raise InvalidRequest(f"tag filter {value[:64]!r} is not key:value")
        filters.append((key, wanted))
    return filters


@dataclass
class Weaver:
    id: str
    owner_user_id: str
    org_id: str
    status: str
    created_at: str
    data: dict[str, Any]
    ring: LogRing
    process: WeaverProcess | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    deleting: bool = False

    def age_hours(self, hour_seconds: float) -> float:
        return max(0.0, (time.time() - parse_timestamp(self.created_at)) / hour_seconds)

    def readable_by(self, p: Principal) -> bool:
        """Owners, support and system admins see a weaver; nobody else (§9)."""
        return p.sees_everything or self.owner_user_id == p.user_id

    def writable_by(self, p: Principal) -> bool:
        """Owners and system admins change a weaver or type into it; support only watches (§9)."""
        return p.is_admin or self.owner_user_id == p.user_id

    def has_tags(self, filters: list[tuple[str, str]]) -> bool:
        return all(self.data["tags"].get(k) == v for k, v in filters)

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
        self.rows = WeaverRows(store)
        self.dir = config.data_dir / "weavers"
        self._weavers: dict[str, Weaver] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- startup and shutdown -----------------------------------------------------------------

    async def start(self) -> None:
        """Load the records and adopt every weaver whose host still runs; one whose host is
        gone ended while no server watched (its exit status, if the host recorded it)."""
        self.dir.mkdir(mode=0o700, exist_ok=True)
        for row in self.rows.undeleted():
            weaver = Weaver(row["id"], row["owner_user_id"], row["org_id"], row["status"],
                            row["created_at"], json.loads(row["data"]),
                            LogRing(self._files(row["id"])))
            self._weavers[weaver.id] = weaver
            if weaver.status in LIVE:
                await self._adopt(weaver)
            else:
                weaver.ring.close()
        self._sweeper = asyncio.ensure_future(self._sweep_forever())

    async def _adopt(self, weaver: Weaver) -> None:
        files = self._files(weaver.id)
        process = await WeaverProcess.adopt(files, weaver.ring.poll)
        if process is None:
            done = files.read_exit()
            code = done.get("code") if done else None
            if weaver.status == "terminating":
                self._forget(weaver)
                return
            if isinstance(code, int):
                self._finish(weaver, "succeeded" if code == 0 else "failed",
                             None if code == 0 else _exit_reason(Ended(code)))
            else:
                self._finish(weaver, "failed", _exit_reason(Ended(None, _LOST)))
            return
        log.info("weaver %s: adopted (its host, pid %s, still runs)", weaver.id,
                 process.record.get("host_pid"))
        weaver.process = process
        weaver.task = asyncio.ensure_future(self._supervise(weaver))
        if weaver.status == "terminating":  # deleted just before the last server went away
            weaver.deleting = True
            process.terminate()
            asyncio.get_running_loop().call_later(self.config.weaver_grace_seconds, process.kill)
        elif weaver.status == "pending":
            weaver.status = "running"
            self._save(weaver)

    async def stop(self) -> None:
        """Stop every process and record why, or with `keep_weavers` only let go of them."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        running = [w for w in self._weavers.values() if w.task is not None and not w.task.done()]
        if self.config.keep_weavers:
            for weaver in running:
                assert weaver.task is not None and weaver.process is not None
                weaver.task.cancel()
                await weaver.process.disconnect()
            if running:
                log.info("left %d weaver(s) running (--keep-weavers)", len(running))
            return
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
            raise InvalidRequest(f"invalid id: {weaver_id[:64]!r}") from None
        weaver = self._weavers.get(weaver_id.lower())
        if weaver is None:
            raise WeaverNotFound(f"Weaver not found: {weaver_id}")
        return weaver

    def readable(self, p: Principal, weaver_id: str) -> Weaver:
        weaver = self.get(weaver_id)
        if not weaver.readable_by(p):
            raise NotAllowed("Not allowed to access this weaver")
        return weaver

    def visible(self, p: Principal, filters: list[tuple[str, str]]) -> list[Weaver]:
        """The weavers `p` may see that carry every `(key, value)` tag, oldest first (§4.3)."""
        return [w for w in self.all() if w.readable_by(p) and w.has_tags(filters)]

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
            raise TooManyWeavers(f"{active} weavers running (max: {self.config.max_weavers})")
        weaver_id = uuid7()
        home = self.dir / weaver_id
        home.mkdir(mode=0o700)
        try:
            launch = self._launch(spec, weaver_id, home)
        except ValueError as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise InvalidRequest(str(exc)) from None
        files = self._files(weaver_id)
        weaver = Weaver(weaver_id, owner_user_id, spec.org_id, "pending", utc_now(),
                        _record(spec), LogRing(files))
        self._weavers[weaver_id] = weaver
        self._save(weaver)
        try:
            process = await WeaverProcess.spawn(files, launch, weaver.ring.poll)
        except StartFailed as exc:
            reason = f"cannot start {launch.argv[0]}: {exc}"
            self._finish(weaver, "failed", reason)
            raise ProvisionFailed(f"Weaver {weaver_id} failed: {reason}") from None
        weaver.process, weaver.status = process, "running"
        self._save(weaver)
        weaver.task = asyncio.ensure_future(self._supervise(weaver))
        return weaver

    def delete_for(self, p: Principal, weaver_id: str) -> None:
        """Delete on behalf of `p`: the owner or a system admin (§4.4)."""
        weaver = self.readable(p, weaver_id)
        if not weaver.writable_by(p):
            raise NotAllowed("Only the owner or a system admin may delete a weaver")
        self.delete(weaver)

    def delete(self, weaver: Weaver) -> None:
        """Stop the process (grace period, then SIGKILL); the weaver disappears when it ends."""
        if weaver.deleting:
            return
        weaver.deleting = True
        # Ended already (its supervisor may still be releasing the host): nothing to stop.
        if weaver.task is None or weaver.task.done() or weaver.status in ("succeeded", "failed"):
            self._forget(weaver)
            return
        weaver.status = "terminating"
        self._save(weaver)
        assert weaver.process is not None
        weaver.process.terminate()
        asyncio.get_running_loop().call_later(self.config.weaver_grace_seconds,
                                              weaver.process.kill)

    @staticmethod
    def require_cleaner(p: Principal) -> None:
        """Only system admins clean up (§4.5)."""
        if not p.is_admin:
            raise NotAllowed("System admin access required for cleanup operations")

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
        ended = await weaver.process.wait()
        weaver.ring.close()
        if weaver.deleting:
            self._forget(weaver)
        else:
            self._finish(weaver, "succeeded" if ended.code == 0 else "failed",
                         None if ended.code == 0 else _exit_reason(ended))
        await weaver.process.release()

    def _finish(self, weaver: Weaver, status: str, reason: str | None) -> None:
        weaver.status = status
        if reason and not weaver.data.get("reason"):
            weaver.data["reason"] = reason
        if not weaver.ring.closed:
            weaver.ring.close()
        self._save(weaver)

    def _forget(self, weaver: Weaver) -> None:
        self._weavers.pop(weaver.id, None)
        self.rows.mark_deleted(weaver.id)
        if not weaver.ring.closed:
            weaver.ring.close()
        shutil.rmtree(self.dir / weaver.id, ignore_errors=True)
        self._files(weaver.id).remove()

    def _save(self, weaver: Weaver) -> None:
        self.rows.save(weaver.id, weaver.owner_user_id, weaver.org_id, weaver.status,
                       weaver.created_at, weaver.data)

    def _files(self, weaver_id: str) -> HostFiles:
        return HostFiles(self.dir, weaver_id)

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
