"""Create (or reset) the demo logins and print them. For a local demo only: refused with DEBUG off."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tracker.management.commands.load_demo import demo_organisation, demo_row, demo_row_remember, quiet_logs
from tracker.models import Role, User

DEMO_LOGINS = (
    ("coordinator", Role.COORDINATOR, "manages sites, corridors and schedules; reviews flags"),
    ("reporter", Role.REPORTER, "adds and edits the demo organisation's figures"),
)


class Command(BaseCommand):
    help = "Create or reset the demo logins (a coordinator and a reporter) and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo logins are for a local demo: refused with DEBUG off.")
        with quiet_logs(options["verbosity"]):
            self.reset()

    def reset(self) -> None:
        organisation = demo_organisation()
        self.stdout.write("Demo logins (new passwords each time this runs):")
        for username, role, what in DEMO_LOGINS:
            # Found by its key: a demo login renamed since is reset, not doubled.
            user = demo_row(f"login:{username}", User, legacy=[{"username": username}]) or User(username=username)
            user.organisation, user.role, user.is_active = organisation, role, True
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            demo_row_remember(f"login:{username}", user)
            self.stdout.write(f"  {user.username:<12} {password}   ({what})")
