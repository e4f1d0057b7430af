"""``python -m skydnsctl`` runs skydnsctl."""

import sys

from . import main

sys.exit(main())
