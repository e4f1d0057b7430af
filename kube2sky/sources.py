"""Where the controller's events come from: thread bodies that post them.

A source is a function run in its own thread with ``post`` (callable from
any thread) and a stop event; it posts ``(kind, event type, object)``
until the event is set: ``LIST`` with the list of all objects of a kind,
then ``ADDED``/``MODIFIED``/``DELETED`` with one object.  The API server's
watch of one kind is a source, and so is a file re-read when it changes.
A new source (another kind, another place objects come from) is one more
function of this shape handed to :meth:`~kube2sky.controller.Controller.run`.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from tenacity import Retrying, retry_if_exception_type

from skydns_common.retry import backoff

from . import filesource, kube

log = logging.getLogger(__name__)

#: (kind, event type, object): hands an event to the controller, from any thread
Post = Callable[[str, str, object], None]
#: a thread body posting events until the stop event is set
Source = Callable[[Post, threading.Event], None]


def api(client, kind: str, timeout: int) -> Source:
    """List and watch one kind forever, relisting on 410 and retrying
    every failure with backoff."""
    def run(post: Post, stop: threading.Event) -> None:
        for attempt in Retrying(wait=backoff(0.2, 10, 0.3),
                                retry=retry_if_exception_type(Exception),
                                before_sleep=lambda rs: log.warning("%s: %s; listing again", kind,
                                                                    str(rs.outcome and rs.outcome.exception())[:200])):
            with attempt:
                while not stop.is_set():
                    for etype, obj, _ in kube.list_and_watch(client, kind, stop, timeout):
                        post(kind, etype, obj)
            if stop.is_set():
                return
    return run


def file(path: str, kinds: tuple[str, ...]) -> Source:
    """Every read of the file is a full listing of all kinds."""
    def run(post: Post, stop: threading.Event) -> None:
        for objects in filesource.watch_file(path, stop):
            for kind in kinds:
                post(kind, "LIST", objects[kind])
    return run
