"""
The staff quick forms offline, as a reporter in the field meets them on a 360 px phone:
after one visit online the forms open offline, entries saved offline wait in the
device's outbox and are each saved exactly once when the connection returns, whatever
happens to the network, the tabs or the login meanwhile.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import PHONE, TIMEOUT_MS, log_in, no_horizontal_scroll
from tracker.models import CivilianCount, IdempotencyRecord

pytestmark = pytest.mark.browser

# The outbox's requests as the server receives them (tracker/offline.py).
OUTBOX_POST = re.compile(r".*/staff/counts/new/$")
# Every name of the device's offline caches, and the outbox database if it exists.
DEVICE_STORAGE = """async () => ({
  caches: (await caches.keys()).filter(name => name.startsWith('tracker-offline-')),
  outbox: (await indexedDB.databases()).map(db => db.name).filter(name => name === 'tracker-outbox'),
})"""
# What the offline caches hold, as text: every kept page and file.
CACHED_TEXT = """async () => {
  const texts = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      texts.push(request.url + '\\n' + await (await cache.match(request)).text());
    }
  }
  return texts.join('\\n');
}"""


@pytest.fixture
def field(transactional_db):
    """The places and sources a reporter picks from; the shelter's exact position is not theirs to see."""
    plant = factories.SiteFactory(
        name="Azovstal steel plant", timezone="Europe/Kyiv", latitude=47.0971, longitude=37.5434
    )
    shelter = factories.SiteFactory(
        name="Bunker under workshop 4",
        parent=plant,
        restricted=True,
        latitude=47.09871,
        longitude=37.58213,
        timezone="Europe/Kyiv",
    )
    source = factories.SourceFactory(name="Mayor of Mariupol (Vadym Boichenko)")
    return {"plant": plant, "shelter": shelter, "source": source}


@pytest.fixture
def device(browser, offline, csp, live_server):
    """A phone's browser (one context: its tabs share the outbox), reaching only the live server."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2, locale="en-GB")
    context.route("**/*", offline)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("page", lambda page: page.on("console", csp))
    yield context
    context.close()
    assert csp.violations == []


def go_online_once(context, page, live_server, reporter, path="/en/staff/counts/new/"):
    """The one visit online: log in, open a form, wait until the device keeps the staff pages."""
    log_in(page, live_server, reporter)
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("html")).to_have_attribute("data-offline-ready", "true")


def save_count(page, field, count: str) -> None:
    page.locator("#id_site").select_option(label=field["plant"].name)
    page.locator("#id_count").fill(count)
    page.locator("#id_qualifier").select_option("approximately")
    page.locator("#id_source").select_option(label=field["source"].name)
    page.get_by_role("button", name="Save the count").click()


class Posts:
    """Counts the outbox's POSTs per Idempotency-Key as they leave the device."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def __call__(self, route) -> None:
        if route.request.method == "POST" and route.request.headers.get("x-tracker-outbox") == "1":
            self.keys.append(route.request.headers["idempotency-key"])
        route.fallback()


def test_offline_forms_open_queue_three_entries_and_save_each_once_when_back_online(
    device, live_server, reporter, field
):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)

    # Installable: Chromium finds nothing missing (manifest, icons, worker); a test's
    # browser context is incognito-like, which is the browser's, not the site's, doing.
    cdp = device.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [error["errorId"] for error in errors if error["errorId"] != "in-incognito"] == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert json.loads(manifest["data"])["start_url"] == "/en/staff/"

    device.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="Add a civilian count")).to_be_visible()
    expect(page.locator("#offline-status")).to_contain_text("You are offline")
    expect(page.locator("#offline-status")).to_contain_text("Sites, sources and windows as of")
    # The other forms were kept too, though only this one was opened.
    for path, heading in (
        ("/en/staff/hostilities/new/", "Add a hostility report"),
        ("/en/staff/departures/new/", "Add a departure"),
        ("/en/staff/arrivals/new/", "Add an arrival"),
        ("/en/staff/", "My figures"),
    ):
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    page.goto(f"{live_server.url}/en/staff/counts/new/")

    for waiting, count in enumerate(("150", "160", "170"), start=1):
        save_count(page, field, count)
        expect(page.locator("#offline-status")).to_contain_text("Saved on this device")
        expect(page.locator(".outbox-waiting")).to_have_count(waiting)
    expect(page.locator("#outbox-summary")).to_have_text("3 entries waiting to be sent.")
    expect(page.locator(".outbox-waiting")).to_have_count(3)
    expect(page.locator(".outbox-waiting").first).to_contain_text("entered")
    assert no_horizontal_scroll(page)
    assert CivilianCount.objects.count() == 0

    # A reporter's device never keeps the shelter's exact position.
    cached = page.evaluate(CACHED_TEXT)
    assert "Add a civilian count" in cached
    assert "47.09871" not in cached
    assert "37.58213" not in cached

    device.set_offline(False)
    expect(page.locator("#outbox-summary")).to_have_text("Nothing waiting to be sent.")
    expect(page.locator(".outbox-saved")).to_have_count(3)
    expect(page.locator(".outbox-saved").first.get_by_role("link", name="Open it")).to_be_visible()
    counts = sorted(CivilianCount.objects.filter(created_by=reporter).values_list("count", flat=True))
    assert counts == [150, 160, 170]
    assert IdempotencyRecord.objects.filter(user=reporter).count() == 3


def test_a_sync_cut_off_mid_way_resumes_without_a_duplicate(device, live_server, reporter, field):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)
    device.set_offline(True)
    page.reload()
    save_count(page, field, "210")
    expect(page.locator(".outbox-waiting")).to_have_count(1)
    save_count(page, field, "220")
    expect(page.locator("#outbox-summary")).to_have_text("2 entries waiting to be sent.")

    posts = Posts()
    cut: list[str] = []

    def lose_the_first_answer(route) -> None:
        # The first entry reaches the server and is saved; its answer never comes back.
        if route.request.method == "POST" and not cut:
            cut.append(route.request.headers["idempotency-key"])
            route.fetch()
            route.abort("internetdisconnected")
        else:
            route.fallback()

    device.route(OUTBOX_POST, lose_the_first_answer)
    device.route(OUTBOX_POST, posts)
    with device.expect_event("requestfailed", predicate=lambda request: request.method == "POST"):
        device.set_offline(False)
    assert len(cut) == 1
    assert CivilianCount.objects.count() == 1
    expect(page.locator("#outbox-summary")).to_have_text("2 entries waiting to be sent.")

    # The connection comes back again: both are sent, the first with its key again.
    device.set_offline(True)
    device.set_offline(False)
    expect(page.locator("#outbox-summary")).to_have_text("Nothing waiting to be sent.")
    assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [210, 220]
    assert posts.keys.count(cut[0]) == 2
    assert len(set(posts.keys)) == 2


def test_a_refused_entry_shows_its_errors_and_is_saved_once_corrected(device, live_server, reporter, field):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)
    device.set_offline(True)
    page.reload()
    save_count(page, field, "")  # no count: the server refuses it
    expect(page.locator("#outbox-summary")).to_have_text("1 entry waiting to be sent.")

    device.set_offline(False)
    refused = page.locator(".outbox-refused")
    expect(refused).to_contain_text("Count: This field is required.")
    expect(page.locator("#outbox-summary")).to_contain_text("1 entry refused")
    assert CivilianCount.objects.count() == 0

    refused.get_by_role("link", name="Correct it").click()
    expect(page.locator("#outbox-errors")).to_contain_text("Count: This field is required.")
    assert page.locator("#id_site").input_value() == str(field["plant"].pk)
    page.locator("#id_count").fill("300")
    page.get_by_role("button", name="Save the count").click()
    expect(page.locator(".outbox-saved")).to_have_count(1)
    expect(page.locator("#outbox-summary")).to_have_text("Nothing waiting to be sent.")
    assert list(CivilianCount.objects.values_list("count", flat=True)) == [300]


def test_two_open_tabs_never_send_one_entry_twice(device, live_server, reporter, field):
    first = device.new_page()
    go_online_once(device, first, live_server, reporter)
    second = device.new_page()
    second.goto(f"{live_server.url}/en/staff/")
    device.set_offline(True)
    first.reload()
    for waiting, count in enumerate(("11", "12", "13"), start=1):
        save_count(first, field, count)
        expect(first.locator(".outbox-waiting")).to_have_count(waiting)
    expect(second.locator("#outbox-summary")).to_have_text("3 entries waiting to be sent.")

    posts = Posts()
    device.route(OUTBOX_POST, posts)
    device.set_offline(False)  # both tabs hear `online`, and the worker may sync too
    for tab in (first, second):
        expect(tab.locator("#outbox-summary")).to_have_text("Nothing waiting to be sent.")
    assert sorted(CivilianCount.objects.values_list("count", flat=True)) == [11, 12, 13]
    assert len(posts.keys) == 3
    assert len(set(posts.keys)) == 3


def test_an_expired_login_asks_to_log_in_then_sends(device, live_server, reporter, field):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)
    device.set_offline(True)
    page.reload()
    save_count(page, field, "400")
    Session.objects.all().delete()  # the login expires while the device is offline

    device.set_offline(False)
    expect(page.locator(".outbox-login")).to_contain_text("Your login has expired")
    assert CivilianCount.objects.count() == 0
    page.locator(".outbox-login").get_by_role("link", name="Log in").click()
    page.get_by_label("User name").fill(reporter.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Add a civilian count")).to_be_visible()
    expect(page.locator(".outbox-saved")).to_have_count(1)
    assert list(CivilianCount.objects.filter(created_by=reporter).values_list("count", flat=True)) == [400]


def test_logging_out_warns_of_unsent_entries_and_clears_the_device(device, live_server, reporter, field):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter, path="/uk/staff/counts/new/")
    device.set_offline(True)
    page.reload()
    expect(page.locator("#offline-status")).to_contain_text("Ви офлайн")
    page.locator("#id_count").fill("")
    page.locator("form[data-outbox] button[type=submit]").click()
    expect(page.locator("#outbox-summary")).to_have_text("1 запис чекає на надсилання.")
    assert no_horizontal_scroll(page)
    device.set_offline(False)
    expect(page.locator(".outbox-refused")).to_have_count(1)

    dialogs: list[str] = []

    def answer(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("form[action$='/staff/logout/'] button").click()
    page.wait_for_url(re.compile(r"/uk/$"))
    assert dialogs and "1 запис" in dialogs[0]
    assert page.evaluate(DEVICE_STORAGE) == {"caches": [], "outbox": []}

    # Nothing unsent: logging out asks nothing, and clears the device all the same.
    go_online_once(device, page, live_server, reporter)
    assert page.evaluate(DEVICE_STORAGE)["caches"] != []
    page.locator("form[action$='/staff/logout/'] button").click()
    page.wait_for_url(re.compile(r"/en/$"))
    assert len(dialogs) == 1
    assert page.evaluate(DEVICE_STORAGE) == {"caches": [], "outbox": []}


def test_a_form_saved_online_whose_request_the_network_drops_is_kept_and_sent_once(
    device, live_server, reporter, field
):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)
    dropped: list[str] = []

    def drop_the_page_post(route) -> None:
        # The page's own POST (not the outbox's) dies on the way: the worker keeps the entry.
        if route.request.method == "POST" and route.request.headers.get("x-tracker-outbox") != "1" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.fallback()

    posts = Posts()
    device.route(OUTBOX_POST, drop_the_page_post)
    device.route(OUTBOX_POST, posts)
    save_count(page, field, "500")
    expect(page.locator("#offline-status")).to_contain_text("Saved on this device")
    expect(page.locator(".outbox-saved")).to_have_count(1)
    assert len(dropped) == 1
    assert len(posts.keys) == 1
    assert list(CivilianCount.objects.values_list("count", flat=True)) == [500]


def test_a_form_opened_from_the_device_later_says_how_old_it_is_and_times_now_at_the_site(
    device, live_server, reporter, field
):
    page = device.new_page()
    go_online_once(device, page, live_server, reporter)
    later = timezone.now() + dt.timedelta(hours=3)
    device.clock.set_system_time(later)
    device.set_offline(True)
    page.reload()
    expect(page.locator("#offline-status")).to_contain_text("(3 hours ago)")
    # The time the page was kept with is stale: it is now at the site (Kyiv), as a new form's would be.
    page.locator("#id_site").select_option(label=field["plant"].name)
    shown = dt.datetime.strptime(page.locator("#id_as_of").input_value(), "%Y-%m-%dT%H:%M")  # noqa: DTZ007
    at_the_site = later.astimezone(ZoneInfo("Europe/Kyiv")).replace(tzinfo=None)
    assert abs(shown - at_the_site) < dt.timedelta(minutes=2)
