"""
Settings of the API benchmark's server (bench/api.py): the project's own settings, with
a URLconf that adds the plain-Django floor views beside the real API. Nothing of the
benchmark is added to the app itself; gunicorn finds this module with `--pythonpath bench`.
"""

from tracker.settings import *  # noqa: F403

ROOT_URLCONF = "api_floor"
