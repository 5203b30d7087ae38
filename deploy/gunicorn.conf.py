"""
gunicorn's settings for deploy/tracker-web.service. More workers, or anything else,
without editing this file: GUNICORN_CMD_ARGS="--workers 8" in /etc/tracker/tracker.env.
"""

import os
from typing import Any

# Only the TLS-terminating proxy on this host talks to gunicorn. Bound to every
# address, gunicorn would also answer plain HTTP from the network, around the proxy:
# with BEHIND_TLS_PROXY=1 a client could then send its own X-Forwarded-Proto and
# X-Forwarded-For and be taken for an HTTPS request from another address.
bind = "127.0.0.1:8000"
workers = 4
timeout = 60
# The app logs one line per request itself (LOG_REQUESTS, tracker/middleware.py).
accesslog = None
# The proxy on this host is the only one whose X-Forwarded-* gunicorn believes.
forwarded_allow_ips = "127.0.0.1,::1"


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live metrics go with it (prometheus-client's multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
