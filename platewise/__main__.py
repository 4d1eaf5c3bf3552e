"""``python -m platewise`` is the ``platewise`` command."""

import sys

from platewise.cli import main

sys.exit(main())
