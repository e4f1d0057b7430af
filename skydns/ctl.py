"""skydnsctl's entry point (inspect, edit and migrate records)."""

import sys


def main(argv=None) -> int:
    print("skydnsctl: not built yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
