"""The console as a person uses it, in a real browser (headless Chromium) against the running
pipeline and the Graph sandbox: sign in, connect through the OAuth dialog, import a CSV of
jobs, watch the posts turn posted with their "View post" links, approve a held post, see
the analytics charts, sign out; and the refusals (a bad key, a form without its CSRF token,
another tenant's job). Screenshots of each page go to build/console-screenshots/.

Chromium and chromedriver are Debian's (`devtools/install_browser.sh` installs them); the
tests skip, saying so, only when they are not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.tenancy import KeyScope, add_api_key, create_tenant, migrate_tenancy
from services.distributor.repo import migrate_distributor
from tests.harness import RunningPipeline
from tests.integration.helpers import job_event, ledger, new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "console-screenshots"
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile; skipped only when no browser is installed."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(
            "no browser: the console's browser tests need Debian's chromium and chromium-driver "
            "(devtools/install_browser.sh installs them when run as root)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jobcast-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*HEADLESS_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(5)  # an element of a page still loading is waited for
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Person:
    """What a person does in the console: open pages, fill forms, click, read."""

    def __init__(self, driver: WebDriver, console: str) -> None:
        self.driver = driver
        self.console = console

    def open(self, path: str) -> None:
        self.driver.get(f"{self.console}{path}")

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self) -> str:
        return str(self.find("main").text)

    def heading(self) -> str:
        return str(self.find("h1").text)

    def press(self, css: str) -> None:
        """Click a form's button and wait until the page it leads to has loaded.

        The old page is marked on its window object, which a navigation replaces. Asking an
        element of the old page whether it went stale races the navigation: Chromium may
        answer "Node with given id does not belong to the document" instead of "stale".
        """
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.execute_script("window.__jobcastLeaving = true")
        self.find(css).click()

        def arrived(driver: Any) -> bool:
            try:
                return bool(
                    driver.execute_script(
                        "return window.__jobcastLeaving === undefined"
                        " && document.readyState === 'complete'"
                    )
                )
            except WebDriverException:  # between documents: no context to run in yet
                return False

        WebDriverWait(self.driver, 30, poll_frequency=0.1).until(arrived)

    def wait(self, check: Callable[[], Any], seconds: float = 90.0) -> Any:
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        def attempt(_: Any) -> Any:
            try:
                return check()
            except StaleElementReferenceException:  # the live region was just replaced
                return False
            except WebDriverException as error:  # Chromium's other word for "replaced"
                if "does not belong to the document" in str(error.msg):
                    return False
                raise

        return WebDriverWait(self.driver, seconds, poll_frequency=0.3).until(attempt)

    def sign_in(self, key: str) -> None:
        self.open("/sign-in")
        self.find("#api_key").send_keys(key)
        self.press("form[action='/sign-in'] button")

    def session_cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}


async def sandbox_user(http: httpx.AsyncClient, graph: str) -> dict[str, str]:
    """A Facebook user in the sandbox with a Page linked to an Instagram account, who is the
    one consenting in the OAuth dialog."""
    tag = uuid.uuid4().hex[:8]
    user = {"user": f"user-{tag}", "page": f"page-{tag}", "ig": f"ig-{tag}"}
    for path, body in (
        ("users", {"user_id": user["user"], "name": "Ayu Lestari"}),
        ("accounts", {"account_id": user["ig"], "platform": "instagram",
                      "user_id": user["user"]}),
        ("accounts", {"account_id": user["page"], "platform": "facebook",
                      "user_id": user["user"], "token": f"ptok-{tag}",
                      "name": "Kopi Pagi Canggu", "linked_instagram_id": user["ig"]}),
    ):  # fmt: skip
        response = await http.post(f"{graph}/_sandbox/{path}", json=body)
        assert response.status_code == 201, response.text
    response = await http.patch(
        f"{graph}/_sandbox/settings",
        json={"consenting_user_id": user["user"], "oauth_deny": False},
    )
    assert response.status_code == 200, response.text
    return user


def jobs_csv(folder: Path, run: str) -> Path:
    """Two good jobs and one without a title (its row is refused, the others go)."""
    path = folder / "jobs.csv"
    path.write_text(
        "job_id,title,company,location,employment_type,apply_url,image_url,tags\n"
        f'{run}-barista,Barista,Kopi Pagi,"Canggu, Bali",daily,'
        f"https://jobs.example.com/{run}/barista,https://jobs.example.com/{run}/barista.jpg,"
        "BaliJobs;Coffee\n"
        f"{run}-cook,Line cook,Warung Laut,Seminyak,full_time,"
        f"https://jobs.example.com/{run}/cook,https://jobs.example.com/{run}/cook.jpg,\n"
        f"{run}-untitled,,Warung Laut,Seminyak,daily,https://jobs.example.com/{run}/x,,\n",
        encoding="utf-8",
    )
    return path


async def hold_for_approval(pipeline: Endpoints, tenant: str) -> None:
    """`jobcast profile set --require-approval`: the tenant's posts wait for an operator."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jobcast_cli.main", "profile", "set", "--tenant", tenant,
        "--require-approval",
        env={**os.environ, "DATABASE_URL": pipeline.database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


@contextlib.asynccontextmanager
async def as_signed_in(person: Person) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding the browser's cookies: requests a form would not make."""
    async with httpx.AsyncClient(
        timeout=15, cookies=person.session_cookies(), follow_redirects=False
    ) as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


async def test_a_person_connects_imports_watches_approves_and_signs_out(
    *,
    browser: WebDriver,
    db: asyncpg.Pool,
    pipeline: Endpoints,
    running: RunningPipeline,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    console = pipeline.url("console")
    person = Person(browser, console)
    await migrate_tenancy(db)
    await migrate_distributor(db)
    tenant, tenant_key = await create_tenant(db, f"console-{uuid.uuid4().hex[:8]}")
    operator_key = await add_api_key(db, tenant.tenant_id, KeyScope.OPERATOR)
    user = await sandbox_user(http, pipeline.graph_api_url)

    # Sign in: a wrong key is refused and said so; the operator key opens the console.
    person.sign_in("jc_not-a-real-key")
    assert "not valid" in person.text()
    person.shot("01-sign-in-refused")
    person.sign_in(operator_key)
    assert person.heading() == "Jobs & posts"
    assert operator_key not in browser.page_source
    cookie = next(c for c in browser.get_cookies() if c["name"] == "jobcast_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Lax"
    assert operator_key not in cookie["value"]

    # Connect: the OAuth dialog (the sandbox's) sends the browser back to the callback,
    # and the connections page shows the Page and its Instagram account.
    person.open("/connections")
    assert "No accounts connected yet" in person.text()
    person.press("#connect-facebook")
    # Here the distributor itself is the callback (its JSON answer); under `make up` it is
    # the console, which shows the same on the connections page.
    person.wait(lambda: "/v1/connections/facebook/callback" in browser.current_url)
    assert user["page"] in browser.page_source
    person.open("/connections")
    person.wait(lambda: "Kopi Pagi Canggu" in person.text())
    assert person.text().count("Connected") >= 2, person.text()
    assert "Instagram" in person.text()
    person.shot("02-connections")

    # Import: each row's outcome is shown; the row without a title is refused with why.
    run = f"cb-{uuid.uuid4().hex[:8]}"
    person.open("/import")
    person.find("#file").send_keys(str(jobs_csv(tmp_path, run)))
    person.press("form[action='/import'] button")
    outcome = person.text()
    assert "2 accepted" in outcome, outcome
    assert "1 with problems" in outcome, outcome
    assert "title" in outcome
    person.shot("03-import")

    # The posts turn posted by themselves (live updates); each "View post" is the post the
    # platform holds.
    person.open(f"/posts?since={_today()}")
    person.wait(lambda: len(person.all("a.view-post")) >= 4)
    assert person.find("main").get_attribute("data-live-state") == "open"
    links = {a.get_attribute("href") for a in person.all("a.view-post")}
    on_platform = {
        item.get("permalink_url") or item.get("permalink")
        for account in (user["page"], user["ig"])
        for item in await ledger(http, pipeline, account)
    }
    assert links <= on_platform, (links, on_platform)
    assert len(links) == 4
    person.shot("04-posts")

    # One job's page: each platform in words, attempts, and its link.
    person.open(f"/jobs/{run}-barista")
    assert person.text().count("Posted") >= 2
    assert len(person.all("a.view-post")) == 2
    person.shot("05-job")

    # Approval: with the tenant's profile holding posts, a new job waits; approving posts it.
    await hold_for_approval(pipeline, tenant.name)
    held = f"{run}-waiter"
    response = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events",
        json=job_event(held),
        headers={"Authorization": f"Bearer {tenant_key}"},
    )
    assert response.status_code == 202, response.text
    await wait_for_posts(http, pipeline, {"Authorization": f"Bearer {tenant_key}"}, held, 2)
    person.open("/approvals")
    person.wait(lambda: len(person.all(f"tr button.approve[aria-label*='{held}']")) == 2)
    person.shot("06-approvals")
    person.press(f"tr button.approve[aria-label*='Facebook post of {held}']")
    assert "Approved" in person.text()
    person.open(f"/jobs/{held}")

    def facebook_post() -> str:
        return next(str(s.text) for s in person.all("section.post") if "Facebook" in s.text)

    person.wait(lambda: "Posted" in facebook_post())
    assert "Waiting for approval" in person.text()  # the Instagram post still waits

    # Analytics: the charts are SVG images with names; the CSV export answers.
    browser.set_window_size(1280, 1500)  # the charts, all of them, in the screenshot
    person.open("/analytics?days=7")
    charts = person.all("figure svg[role='img']")
    assert len(charts) == 5
    assert "Posts per day" in (charts[0].get_attribute("aria-label") or "")
    person.shot("07-analytics")
    browser.set_window_size(1280, 900)
    async with as_signed_in(person) as signed:
        exported = await signed.get(f"{console}/analytics.csv?days=7&group_by=platform")
    assert exported.status_code == 200
    assert exported.text.splitlines()[0].startswith("group_by,key")
    assert any(",facebook," in line for line in exported.text.splitlines()[1:])

    # Preview: a pasted job shows each connection's caption, hashtags and media.
    person.open("/preview")
    person.find("#job").send_keys(
        '{"job_id": "preview-1", "title": "Barista", "company": "Kopi Pagi", '
        '"location": "Canggu", "employment_type": "daily", "tags": ["BaliJobs"], '
        '"apply_url": "https://jobs.example.com/p1"}'
    )
    person.press("form[action='/preview'] button")
    previews = person.all("section.preview")
    assert len(previews) == 2
    assert "#BaliJobs" in person.text()
    assert "Not posted here" in person.text()  # Instagram needs an image
    person.shot("08-preview")

    # Sign out: the session is gone, pages ask to sign in again.
    person.press("form[action='/sign-out'] button")
    assert person.heading() == "Sign in"
    person.open("/posts")
    assert person.heading() == "Sign in"

    # The key was never written to the console's log.
    log = running.processes["console"].log_file.read_text(errors="replace")
    assert operator_key not in log
    assert tenant_key not in log


async def test_refusals_bad_csrf_and_another_tenants_job(
    browser: WebDriver,
    db: asyncpg.Pool,
    pipeline: Endpoints,
    http: httpx.AsyncClient,
) -> None:
    console = pipeline.url("console")
    person = Person(browser, console)
    # Another tenant has a job with posts.
    other_auth, _ = await new_tenant(db, pipeline)
    foreign = f"foreign-{uuid.uuid4().hex[:8]}"
    sent = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events", json=job_event(foreign), headers=other_auth
    )
    assert sent.status_code == 202
    await wait_for_posts(http, pipeline, other_auth, foreign, 2)

    mine_auth, _ = await new_tenant(db, pipeline)
    person.sign_in(mine_auth["Authorization"].removeprefix("Bearer "))
    assert person.heading() == "Jobs & posts"
    assert "Operations" not in person.find("nav").text  # a tenant key: no operator pages

    # Another tenant's job id in the URL: not found, nothing of it shown.
    person.open(f"/jobs/{foreign}")
    assert person.heading() == "Not found"
    person.shot("09-foreign-job-404")
    async with as_signed_in(person) as signed:
        answer = await signed.get(f"{console}/jobs/{foreign}")
        assert answer.status_code == 404
        assert foreign not in answer.text.replace(f"/jobs/{foreign}", "")

        # A form without its CSRF token (or with another): 403, nothing done.
        for form in ({}, {"csrf_token": "forged"}):
            refused = await signed.post(f"{console}/operations/pause", data=form)
            assert refused.status_code == 403, refused.text
        sign_out = await signed.post(f"{console}/sign-out")
        assert sign_out.status_code == 403
    person.open("/posts")
    assert person.heading() == "Jobs & posts"  # still signed in: the forged sign-out failed

    # A sign-in without the form's token is refused too.
    signin = await http.post(f"{console}/sign-in", data={"api_key": "jc_x"}, follow_redirects=False)
    assert signin.status_code == 403
    # And a bad key through the form: 401, said in words.
    async with httpx.AsyncClient(timeout=15) as fresh:
        page = await fresh.get(f"{console}/sign-in")
        token = page.cookies["jobcast_console_signin"]
        bad = await fresh.post(
            f"{console}/sign-in", data={"api_key": "jc_wrong", "csrf_token": token}
        )
    assert bad.status_code == 401
    assert "not valid" in bad.text


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()
