"""`[core] hostname_callable` for `make e2e-distributed`: one name per service.

Every service of the deployment runs on this one machine; giving each its own
hostname (CASED_E2E_HOSTNAME) lets the chaos driver tell from the metadata DB
which triggerer holds a trigger (job.hostname) and which worker runs a task
instance (task_instance.hostname), as it could on separate machines.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("CASED_E2E_HOSTNAME") or socket.getfqdn()
