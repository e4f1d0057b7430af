"""Every reply the handler makes for test_differential's random questions,
written to a file: run by test_native.py with and without SKYDNS_PURE, so
that the compiled modules and their Python source answer the same questions
in two processes.

    python -m tests.native_replies OUT COUNT
"""

import sys

from skydns_common import native
from tests.test_differential import make_handler, questions


def replies(count: int):
    """(question, reply built, reply from the packet cache) for each question;
    a reply that is not a packet (a question for the forwarders) is b"-"."""
    handler, names = make_handler()
    for data, tcp in questions(names, handler.state.config.domain, count):
        out = []
        for _ in range(2):  # built, then (when kept) from the packet cache
            got = handler.handle(data, tcp)
            if not isinstance(got, bytes):
                if got is not None:
                    got.close()  # forwarded: the relay is never started
                got = b"-"
            out.append(got)
        yield data, out[0], out[1]


def main() -> int:
    path, count = sys.argv[1], int(sys.argv[2])
    with open(path, "wb") as f:
        f.write(b"compiled\n" if native.running_compiled() else b"source\n")
        for packets in replies(count):
            for packet in packets:
                f.write(len(packet).to_bytes(4, "big") + packet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
