"""A local RudderStack data plane for tests and benchmarks: ``Sink``, its ``Faults`` and stats.

Run it from Python with ``Sink``, or from a shell with ``python -m rudder_fast.sink``. It
responds to ``POST /v1/batch`` like rudder-server's gateway (v1.83): the same checks in
the same order, the same statuses and the same plain-text bodies. It listens on loopback
addresses only.
"""

from __future__ import annotations

from ._faults import Faults
from ._sink import Sink
from ._store import SinkStats

__all__ = ["Faults", "Sink", "SinkStats"]
