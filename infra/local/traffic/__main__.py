"""``python -m infra.local.traffic``."""

import sys

from infra.local.traffic.cli import main

sys.exit(main())
