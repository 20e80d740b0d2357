"""Load tests and the configuration sweep for rudder_fast; run them as ``python -m bench.…``."""
