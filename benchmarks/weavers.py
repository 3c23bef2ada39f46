"""Weavers for the measurements, made and removed straight on the local Loom (admin key)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

FINAL = ("succeeded", "failed")


class WeaverAdmin:
    def __init__(self, url: str, key: str, org_id: str) -> None:
        self.org_id = org_id
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=120, trust_env=False)
        self.created: list[str] = []

    def create(self, command: Sequence[str], tags: dict[str, str] | None = None) -> dict[str, Any]:
        body = {"image": "bench", "org_id": self.org_id, "command": list(command),
                "tags": {"bench": "1", **(tags or {})}, "lifetime_hours": 2}
        resp = self.http.post("/api/weaver", json=body)
        if resp.status_code != 201:
            raise RuntimeError(f"creating a weaver failed: {resp.status_code} {resp.text[:300]}")
        weaver = dict(resp.json())
        self.created.append(weaver["id"])
        return weaver

    def get(self, weaver_id: str) -> dict[str, Any]:
        resp = self.http.get(f"/api/weaver/{weaver_id}")
        resp.raise_for_status()
        return dict(resp.json())

    def wait(self, weaver_id: str, statuses: Sequence[str] = FINAL, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = str(self.get(weaver_id)["status"])
            if status in statuses:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"weaver {weaver_id} still {status} after {timeout:g} s")
            time.sleep(0.05)

    def wait_output(self, weaver_id: str, text: str, timeout: float = 30) -> None:
        """Until the weaver's log holds `text` (its setup ran; attach replays non-empty output)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.http.get(f"/api/weaver/{weaver_id}/logs",
                                 params={"tail": "-1", "follow": "false"})
            if resp.status_code == 200 and text in resp.text:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"weaver {weaver_id} did not print {text!r} in {timeout:g} s")
            time.sleep(0.05)

    def delete(self, weaver_id: str) -> None:
        resp = self.http.delete(f"/api/weaver/{weaver_id}")
        if resp.status_code not in (204, 404):
            raise RuntimeError(f"deleting weaver {weaver_id}: {resp.status_code} {resp.text[:200]}")

    def delete_all(self) -> None:
        for weaver_id in self.created:
            try:
                self.delete(weaver_id)
            except (httpx.HTTPError, RuntimeError):
                pass
        self.created.clear()

    def close(self) -> None:
        self.http.close()
