"""``python -m rudder_fast``: the same as the ``rudder-fast`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
