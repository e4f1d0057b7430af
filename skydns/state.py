"""What the server answers from: the mirror's store, the current settings
and the DNSSEC signer.

The mirror writes it (keys, connection, configuration from etcd) and the
handler reads it on every question; it lives apart from both so each can
import it without importing the other.
"""

from __future__ import annotations

from .config import Config
from .store import Store


class State:
    def __init__(self, store: Store, config: Config, signer=None) -> None:
        self.store = store
        self.config = config
        self.connected = False
        #: the DNSSEC signer when -dnssec names a key
        self.signer = signer

    def ready(self) -> bool:
        return self.store.synced and self.connected
