"""Everything a running local server holds, opened and closed in one place."""
from __future__ import annotations

from dataclasses import dataclass

from .auth import Auth
from .config import LocalConfig
from .device import DeviceFlow
from .llm import LlmService
from .orgs import Orgs
from .store import Store
from .threads import Threads
from .weavers import WeaverManager


@dataclass
class LocalState:
    config: LocalConfig
    store: Store
    auth: Auth
    devices: DeviceFlow
    orgs: Orgs
    threads: Threads
    weavers: WeaverManager
    llm: LlmService

    @classmethod
    async def open(cls, config: LocalConfig) -> LocalState:
        """Create the data dir, open SQLite, ensure the default org and admin key, start weavers."""
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = Store.open(config.data_dir / "loom.sqlite3")
        try:
            auth = Auth(store, config)
            auth.ensure_default_org()
            auth.ensure_admin_key(config.admin_key_file)
            weavers = WeaverManager(config, store)
            llm = LlmService(config)
            await weavers.start()
        except BaseException:
            store.close()
            raise
        return cls(config=config, store=store, auth=auth,
                   devices=DeviceFlow(auth, config.device_code_ttl), orgs=Orgs(auth),
                   threads=Threads(store), weavers=weavers, llm=llm)

    async def close(self) -> None:
        try:
            await self.weavers.stop()
            await self.llm.aclose()
        finally:
            self.store.close()
