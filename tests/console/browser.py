"""The web console in a real browser: headless Chromium driven over WebDriver (Selenium and
Debian's chromedriver) against the real dirvaultd and graph-emulator binaries.

Two emulated tenants; an admin key and a key scoped to the first tenant. The flows of the
commercial products, each checked by what the page shows and what the emulator then holds:
sign in, tenants, back up now (live progress until complete), a user changed and another
deleted between two backups, browse and search users, the changed user's page (the new value
in red, the old one beside it), switching versions, the memberships tab, restoring the deleted
user from the dialog (plan, apply, the job's log says done, and the emulator has the user back
with its group memberships), comparing snapshots, downloading a zip; then the attacks: a form
without its CSRF token or with another session's, and a scoped key trying every page and URL
of the other tenant.

Usage: python tests/console/browser.py TARGET_DIR [SCREENSHOT_DIR]
(TARGET_DIR holds the built dirvaultd and graph-emulator; .ci/run passes target/debug.
With SCREENSHOT_DIR, a PNG of each main page is written there: docs/console/ has them.)
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        WebDriverException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ADMIN_KEY = "console-admin-key-0123456789abcdef"
SCOPED_KEY = "console-contoso-only-key-0123456789"
REPOSITORY_PASSWORD = "console test repository password"
# A page that reloads itself (a running job) gets this long to say the job finished.
JOB_SECONDS = 120


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Emulator:
    def __init__(self, target):
        self.proc = subprocess.Popen(
            [f"{target}/graph-emulator", "--listen", "127.0.0.1:0", "--tenant", "contoso:tiny:1",
             "--tenant", "fabrikam:tiny:2", "--throttle-scale", "0", "--json"],
            stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        self.url = info["url"]
        self.tenants = {t["name"]: t for t in info["tenants"]}

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/_emulator{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            text = r.read()
        return json.loads(text) if text else None

    def export(self, tenant):
        return self.control("GET", f"/tenants/{self.tenants[tenant]['tenantId']}/export")

    def mutate(self, tenant, ops):
        self.control("POST", f"/tenants/{self.tenants[tenant]['tenantId']}/mutations", ops)


def start_daemon(target, work, emulator):
    url = emulator.url
    contoso, fabrikam = emulator.tenants["contoso"], emulator.tenants["fabrikam"]
    config = os.path.join(work, "config.toml")
    tenants = ""
    for name, t in (("contoso", contoso), ("fabrikam", fabrikam)):
        tenants += f"""
[tenants.{name}]
tenant_id = "{t['tenantId']}"
client_id = "{t['clientId']}"
graph_url = "{url}"
login_url = "{url}"
schedule = "0 0 0 1 1 * 2099"
[tenants.{name}.secret]
type = "env"
var = "{name.upper()}_SECRET"
"""
    with open(config, "w") as f:
        f.write(f"""[daemon]
tick_seconds = 1
default_schedule = "0 0 0 1 1 * 2099"
consent_redirect_uri = "https://msp.example/onboarded"

[[daemon.api_endpoints]]
graph_url = "{url}"
login_url = "{url}"

[[daemon.api_keys]]
name = "admin"
env = "CONSOLE_ADMIN_KEY"

[[daemon.api_keys]]
name = "contoso-technician"
env = "CONSOLE_SCOPED_KEY"
tenant_ids = ["{contoso['tenantId']}"]
{tenants}""")
    env = dict(os.environ, CONSOLE_ADMIN_KEY=ADMIN_KEY, CONSOLE_SCOPED_KEY=SCOPED_KEY,
               CONTOSO_SECRET=contoso["clientSecret"], FABRIKAM_SECRET=fabrikam["clientSecret"],
               DIRVAULT_PASSWORD=REPOSITORY_PASSWORD, DIRVAULT_LOG="info")
    log = open(os.path.join(work, "daemon.log"), "w")
    proc = subprocess.Popen(
        [f"{target}/dirvaultd", "--config", config, "--repo", os.path.join(work, "repo"),
         "--listen", "127.0.0.1:0", "run"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    first = json.loads(proc.stdout.readline())
    return proc, f"http://{first['listening']}"


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='dirvault-chromium-')}")
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(options=options, service=service)


class Console:
    """The browser on the console, with the steps a technician takes."""

    def __init__(self, driver, base, shots):
        self.d = driver
        self.base = base
        self.shots = shots

    def click(self, element):
        """Clicks a link or a submit button and waits for the next page."""
        page = self.d.find_element(By.TAG_NAME, "html")
        element.click()

        def left(_driver):
            # Gone from the document: stale, or (Chromium, when the next page is itself
            # reloading) "Node with given id does not belong to the document".
            try:
                page.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise
        WebDriverWait(self.d, 30).until(left)

    def go(self, path):
        self.d.get(self.base + path)

    def text(self):
        return self.d.find_element(By.TAG_NAME, "body").text

    def title(self):
        return self.d.find_element(By.TAG_NAME, "h1").text

    def shot(self, name):
        if self.shots:
            self.d.save_screenshot(os.path.join(self.shots, f"{name}.png"))

    def sign_in(self, key):
        self.go("/console/login")
        self.d.find_element(By.NAME, "key").send_keys(key)
        self.click(self.d.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
        check(self.title() == "Tenants", f"signed in: {self.title()}")

    def sign_out(self):
        self.click(self.d.find_element(By.XPATH, "//button[text()='Sign out']"))
        check(self.title() == "Sign in", "signed out")

    def wait_job(self):
        """On a job page: waits (the page reloads itself) until the job is no longer running."""
        # The page reloads itself: an element may leave the document while it is read.
        WebDriverWait(self.d, JOB_SECONDS, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException, WebDriverException)).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "main p .badge").text
            not in ("queued", "running"))
        WebDriverWait(self.d, 30, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException, WebDriverException)).until(
            lambda d: "finished" in d.find_element(By.TAG_NAME, "main").text.lower()
            or d.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]") == [])
        return self.d.find_element(By.CSS_SELECTOR, "main p .badge").text

    def back_up(self, tenant):
        self.go("/console/tenants")
        self.click(self.d.find_element(By.CSS_SELECTOR, f"button[aria-label='Back up {tenant} now']"))
        check("Backup of" in self.title(), f"the job page: {self.title()}")
        state = self.wait_job()
        check(state == "complete", f"backup state {state}: {self.text()}")

    def cookie(self):
        return self.d.get_cookie("dirvault_session")["value"]

    def fetch(self, path, method="GET", form=None, cookie=None):
        """A request outside the browser with the browser's session: (status, headers, body)."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Cookie", f"dirvault_session={cookie or self.cookie()}")
        if data is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def run(console, emulator):
    c = console
    d = c.d
    contoso = emulator.tenants["contoso"]
    fabrikam = emulator.tenants["fabrikam"]

    # Not signed in: every page leads to the sign-in form; a wrong key is refused.
    c.go("/console/tenants")
    check(c.title() == "Sign in", f"redirected to sign in: {c.title()}")
    d.find_element(By.NAME, "key").send_keys("not-a-key")
    c.click(d.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    check("Unknown API key" in c.text(), "a wrong key is refused")
    c.shot("sign-in")

    # Sign in as the MSP admin: both tenants, never backed up.
    c.sign_in(ADMIN_KEY)
    check("contoso" in c.text() and "fabrikam" in c.text(), "both tenants listed")
    check("never" in c.text(), "no backup yet")

    # The onboarding form gives the admin-consent link to send the customer.
    c.go("/console/tenants/new")
    for field, value in (("name", "northwind"), ("tenant_id", "11111111-2222-3333-4444-555555555555"),
                         ("client_id", "66666666-7777-8888-9999-000000000000"),
                         ("client_secret", "onboarding secret value")):
        d.find_element(By.NAME, field).send_keys(value)
    c.click(d.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    check(c.title() == "Tenant northwind added", c.title())
    link = d.find_element(By.CSS_SELECTOR, ".consent a").get_attribute("href")
    check("/11111111-2222-3333-4444-555555555555/v2.0/adminconsent?client_id=66666666-7777-8888-9999-000000000000" in link, link)
    check("onboarding secret value" not in d.page_source, "the secret is never shown")
    c.shot("onboarding")

    # Back up now, twice, with a user changed and another deleted in between.
    c.back_up("fabrikam")
    c.back_up("contoso")
    c.shot("backup-job")
    state = emulator.export("contoso")
    users = state["objects"]["users"]
    members = state["links"].get("groupMember", {})
    groups_of = lambda uid: sorted(g for g, m in members.items() if uid in m)
    # Names typed into the search box are ASCII (a browser may type other letters in another
    # Unicode normal form than the tenant stored them).
    with_groups = [u for u in users if groups_of(u["id"]) and u["displayName"].isascii()]
    check(len(with_groups) >= 2, "two users with group memberships")
    changed, deleted = with_groups[0], with_groups[1]
    deleted_groups = groups_of(deleted["id"])
    # And a secret slipped into an app: an alert.
    app = state["objects"]["applications"][0]
    secrets = list(app.get("passwordCredentials") or []) + [{
        "keyId": "0badc0de-0000-4000-8000-000000000001", "displayName": "backdoor", "hint": "bd1",
        "secretText": None, "customKeyIdentifier": None,
        "startDateTime": "2026-12-05T00:00:00Z", "endDateTime": "2028-12-05T00:00:00Z"}]
    emulator.mutate("contoso", [
        {"op": "update", "kind": "users", "id": changed["id"], "set": {"jobTitle": "Chief Restorer"}},
        {"op": "delete", "kind": "users", "id": deleted["id"]},
        {"op": "update", "kind": "applications", "id": app["id"], "set": {"passwordCredentials": secrets}},
    ])
    c.back_up("contoso")

    # Tenants page: last backup complete, with its time and counts.
    c.go("/console/tenants")
    check("complete" in c.text(), "the last backup is complete")
    c.shot("tenants")

    # Snapshots of contoso: three, newest first.
    c.go("/console/tenants/contoso")
    rows = d.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    check(len(rows) == 2, f"two snapshots of contoso, got {len(rows)}")
    c.shot("snapshots")

    # Browse the users of the latest snapshot; search finds the changed user.
    c.click(rows[0].find_element(By.LINK_TEXT, "Browse"))
    check("Users" in c.title(), c.title())
    box = d.find_element(By.NAME, "search")
    box.send_keys(changed["displayName"])
    c.click(d.find_element(By.XPATH, "//button[text()='Search']"))
    names = [a.text for a in d.find_elements(By.CSS_SELECTOR, "main table tbody td:nth-child(2) a")]
    check(changed["displayName"] in names, f"search finds {changed['displayName']}: {names}")
    c.shot("browse")

    # The user's page: jobTitle changed, the new value red, the old one beside it.
    c.click(d.find_element(By.LINK_TEXT, changed["displayName"]))
    row = d.find_element(By.XPATH, "//tr[th[text()='jobTitle']]")
    check("changed" in row.get_attribute("class"), "jobTitle is marked changed")
    value = row.find_element(By.CSS_SELECTOR, "td.value")
    check(value.text == "Chief Restorer", value.text)
    red, green, blue = [int(x) for x in value.value_of_css_property("color")
                        .split("(")[1].split(")")[0].split(",")[:3]]
    check(red > 150 and green < 100 and blue < 100, f"the changed value is red: {red},{green},{blue}")
    old = row.find_element(By.CSS_SELECTOR, "td.old").text
    check(old == (changed.get("jobTitle") or ""), f"the previous value beside it: {old!r}")
    c.shot("object")

    # Switch to the first version: jobTitle as it was, nothing changed.
    Select(d.find_element(By.NAME, "at")).select_by_index(1)
    c.click(d.find_element(By.XPATH, "//button[text()='Show']"))
    row = d.find_element(By.XPATH, "//tr[th[text()='jobTitle']]")
    check(row.find_element(By.CSS_SELECTOR, "td.value").text == (changed.get("jobTitle") or ""),
          "the first version's jobTitle")
    check("The first version backed up." in c.text(), "the first version")

    # The memberships tab names the user's groups.
    c.click(d.find_element(By.LINK_TEXT, "Memberships and ownerships"))
    ids = [td.text for td in d.find_elements(By.CSS_SELECTOR, "main table tbody td:nth-child(3)")]
    for g in groups_of(changed["id"]):
        check(g in ids, f"group {g} in the memberships tab: {ids}")
    c.shot("memberships")

    # Only deleted: the deleted user; restore it from the dialog with its memberships.
    c.go("/console/tenants/contoso/browse/latest/users?deleted=on")
    check(deleted["displayName"] in c.text(), "the deleted user is listed as deleted")
    d.find_element(By.CSS_SELECTOR, f"input[value='{deleted['id']}']").click()
    c.click(d.find_element(By.XPATH, "//button[text()='Restore selected…']"))
    check("restore" in c.title(), c.title())
    check(d.find_element(By.NAME, "with_object").is_selected(), "the object is restored by default")
    check(d.find_element(By.NAME, "with_memberships").is_selected(), "memberships by default")
    c.shot("restore-dialog")
    c.click(d.find_element(By.XPATH, "//button[starts-with(text(), 'Plan the restore')]"))
    check(c.title() == "Restore plan", c.title())
    check("restoreDeleted" in c.text(), f"the plan restores from the recycle bin: {c.text()}")
    c.shot("restore-plan")
    c.click(d.find_element(By.XPATH, "//button[starts-with(text(), 'Apply the plan')]"))
    state = c.wait_job()
    check(state == "complete", f"restore job {state}: {c.text()}")
    check("failed" not in [b.text for b in d.find_elements(By.CSS_SELECTOR, "tbody .badge")],
          "no step failed")
    check("done" in [b.text for b in d.find_elements(By.CSS_SELECTOR, "tbody .badge")],
          "steps done")
    c.shot("restore-log")
    after = emulator.export("contoso")
    check(deleted["id"] in [u["id"] for u in after["objects"]["users"]], "the user is back")
    back = after["links"].get("groupMember", {})
    for g in deleted_groups:
        check(deleted["id"] in back.get(g, []), f"membership of group {g} is back")

    # The jobs log lists the restore.
    c.go("/console/jobs")
    check("restore" in c.text() and "backup" in c.text(), "the log lists backups and restores")

    # Compare the two snapshots: one user modified, one deleted.
    c.go("/console/tenants/contoso/compare")
    text = c.text()
    check("Users" in text, "users changed")
    check(changed["displayName"] in text and deleted["displayName"] in text, "both users listed")
    c.shot("compare")

    # Alerts: the secret added to the app, with the restore that puts the app back.
    c.go("/console/tenants/contoso")
    c.click(d.find_element(By.LINK_TEXT, "Alerts"))
    check(c.title() == "contoso: alerts", c.title())
    rows = d.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    check(len(rows) == 1 and "credential-added" in rows[0].text, f"one alert: {c.text()}")
    check("0badc0de-0000-4000-8000-000000000001" in rows[0].text, "the new key id is named")
    undo = rows[0].find_element(By.LINK_TEXT, "Restore as it was").get_attribute("href")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(undo).query)
    check(query["ids"] == [app["id"]] and query["kind"] == ["applications"], undo)
    check(changed["displayName"] not in c.text(), "a job title change is not an alert")
    c.shot("alerts")

    # Download the users of the latest snapshot as a zip, with the browser's session.
    status, headers, body = c.fetch("/console/tenants/contoso/download/latest?kinds=users")
    check(status == 200 and headers.get("content-type") == "application/zip", f"zip: {status}")
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    check(f"users/{changed['id']}.json" in names, f"the zip holds the user: {names[:5]}")

    # Attacks: a form without its CSRF token, or with a made-up one, is refused and does
    # nothing; a session of one browser cannot use another session's token.
    jobs_before = c.fetch("/console/jobs")[2]
    for form in ({}, {"csrf": "0" * 64}):
        status, _, body = c.fetch("/console/tenants/contoso/backup", "POST", form)
        check(status == 403, f"a form without its token is refused: {status}")
        check(b"token" in body, "the page says why")
    check(c.fetch("/console/jobs")[2].count(b"<tr>") == jobs_before.count(b"<tr>"),
          "no job was started by the refused forms")
    status, _, _ = c.fetch("/console/tenants/contoso/backup", "POST", {"csrf": "x"}, cookie="0" * 64)
    check(status == 403, f"a made-up session cannot post: {status}")
    headers = c.fetch("/console/tenants")[1]
    check("frame-ancestors 'none'" in headers.get("content-security-policy", ""), "CSP")
    check(headers.get("cache-control") == "no-store", "pages are not cached")
    old_session = c.cookie()
    c.sign_out()
    status, _, _ = c.fetch("/console/tenants", cookie=old_session)
    check(status == 303, f"after sign-out the session's token leads to sign-in: {status}")

    # A key scoped to contoso: fabrikam on no page and at no URL.
    c.sign_in(SCOPED_KEY)
    check("contoso" in c.text() and "fabrikam" not in c.text(), "only contoso listed")
    check("Add a tenant" not in c.text(), "a scoped key cannot onboard")
    fab_jobs = []
    for path in ["/console/tenants/fabrikam", "/console/tenants/fabrikam/browse/latest/users",
                 f"/console/tenants/fabrikam/objects/latest/users/{emulator.export('fabrikam')['objects']['users'][0]['id']}",
                 "/console/tenants/fabrikam/compare", "/console/tenants/fabrikam/download/latest",
                 "/console/tenants/fabrikam/alerts",
                 "/console/tenants/fabrikam/restore", "/console/tenants/new",
                 "/console/tenants/contoso/restore?snapshot=latest"]:
        status, _, body = c.fetch(path)
        if path.endswith("contoso/restore?snapshot=latest"):
            # The dialog offers only the tenants the key may see as targets.
            check(status == 200 and b"fabrikam" not in body, "no other tenant as a restore target")
            continue
        check(status in (403, 404), f"{path}: {status}")
        check(fabrikam["tenantId"].encode() not in body, f"{path} shows nothing of fabrikam")
    # Fabrikam's backup job, by id, is not found either; nor posting to fabrikam.
    status, _, _ = c.fetch("/console/tenants/fabrikam/backup", "POST",
                           {"csrf": "irrelevant"})
    check(status == 403, f"post without the token: {status}")
    c.go("/console/jobs")
    check("fabrikam" not in c.text(), "fabrikam's jobs are not in the log")
    csrf = d.find_element(By.NAME, "csrf").get_attribute("value")
    status, _, body = c.fetch("/console/tenants/fabrikam/backup", "POST", {"csrf": csrf})
    check(status == 404 and b"fabrikam" in body and fabrikam["tenantId"].encode() not in body,
          f"a scoped key cannot back fabrikam up: {status}")
    status, _, body = c.fetch("/console/tenants/contoso/restore", "POST",
                              {"csrf": csrf, "snapshot": "latest", "all": "on", "with_object": "on",
                               "to_tenant": "fabrikam", "domain": "fabrikam.example"})
    check(status == 404, f"no restore into a tenant the key cannot see: {status}")
    c.sign_out()


def main():
    target = sys.argv[1]
    shots = sys.argv[2] if len(sys.argv) > 2 else None
    if shots:
        os.makedirs(shots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="dirvault-console-")
    emulator = Emulator(target)
    daemon = driver = None
    ok = False
    try:
        daemon, base = start_daemon(target, work, emulator)
        driver = browser()
        run(Console(driver, base, shots), emulator)
        ok = True
        print("console: every flow passed in Chromium")
    finally:
        if driver is not None:
            if not ok:
                try:
                    print(f"== page at failure: {driver.current_url}\n{driver.find_element(By.TAG_NAME, 'body').text[:3000]}",
                          file=sys.stderr)
                except Exception:
                    pass
            driver.quit()
        for p in (daemon, emulator.proc):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not ok:
            with open(os.path.join(work, "daemon.log")) as f:
                print("== dirvaultd log (end)\n" + f.read()[-4000:], file=sys.stderr)


if __name__ == "__main__":
    main()
