"""``python -m skydns.ctl`` runs skydnsctl."""

import sys

from . import main

sys.exit(main())
