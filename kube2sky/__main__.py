"""kube2sky's entry point (the writer half of the stack)."""

import sys


def main(argv=None) -> int:
    print("kube2sky: not built yet", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
