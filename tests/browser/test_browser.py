"""The agent console in a real browser: the live inbox, templates, approvals, and escaping.

The ASGI app is served by uvicorn in a thread of *this* process, so requests-mock
intercepts the server's calls to X and the in-process channel layer carries the
server's realtime events to the browser's websocket. Tests are transactional:
the server thread sees only committed data. Posts arrive as signed X webhooks
over HTTP, so capture, routing and the events they send run in the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import uvicorn
from asgiref.sync import ThreadSensitiveContext
from django.db import connection, connections
from django.utils import timezone
from requests_mock import Mocker

from agents.actions import do_create_user, do_set_presence
from agents.models import AgentProfile, Team
from contactcenter.asgi import application
from core.models import Conversation, Delivery, Direction, Message
from core.models import ConversationState as S
from core.roles import AGENT
from monitoring.models import SocialAccount
from responses.models import ResponseTemplate
from routing.models import Queue
from tests.eager import tasks_run_eagerly

playwright = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (requirements-dev.txt)")
expect = playwright.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.django_db(transaction=True),
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x"
CONSUMER_SECRET = "consumer_secret_123"
ACCOUNT_ID = "4400100"
CREATE_TWEET_URL = "https://api.twitter.com/2/tweets"  # tweepy's host is fixed: api.x.com is never called
POSTED_ID = "1861000000000000999"  # the id create_tweet_201.json gives the reply
CREDENTIALS = {
    "bearer_token": "bearer-abc",
    "consumer_key": "ck-def",
    "consumer_secret": CONSUMER_SECRET,
    "access_token": "at-jkl",
    "access_token_secret": "ats-mno",
}
T = TypeVar("T")
LIVE = 1.0  # seconds from the webhook's 200 to the conversation in the agent's inbox
WAIT_MS = 5_000  # for everything else that should happen promptly


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- The server, X, and the browser --------------------------------------------------------


@pytest.fixture
def live_settings(settings: Any) -> Iterator[None]:
    """X's webhook secret and API credentials, and the embedded topology whatever the environment."""
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    settings.X_CONSUMER_SECRET = CONSUMER_SECRET
    settings.PLATFORM_CREDENTIALS = {"x": CREDENTIALS, "facebook": {}}
    # Also when the suite runs with REDIS_URL: tasks run in the server after commit (there
    # is no worker), and events travel through the in-process layer to the browser.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with tasks_run_eagerly():
        yield


@pytest.fixture
def django_thread(transactional_db: None) -> Iterator[ThreadPoolExecutor]:
    """One thread for Django's sync code in the server, and for the test's own reads while Playwright runs.

    On SQLite the test database lives in memory, shared between connections through
    SQLite's shared cache, where a connection that meets another's lock fails at once
    ("database table is locked") instead of waiting, as it would on the file database
    the embedded server uses. So on SQLite the server runs all its sync code (views,
    the consumer's database calls) in this one thread: one connection, no locks to meet.
    On PostgreSQL requests run concurrently, as in production.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="django") as executor:
        yield executor


def one_thread(app: Any, executor: ThreadPoolExecutor) -> Any:
    """``app`` with every thread-sensitive sync call (the consumer's database calls) run by ``executor``."""

    async def serve(scope: Any, receive: Any, send: Any) -> None:
        async with ThreadSensitiveContext(executor=executor):
            await app(scope, receive, send)

    return serve


@pytest.fixture
def live_url(django_thread: ThreadPoolExecutor, live_settings: None) -> Iterator[str]:
    """The ASGI app on a free port, served from a thread of this process."""
    http = application.application_mapping["http"]  # contactcenter.http.ThreadedHTTPHandler
    served_by = http.executor
    if connection.vendor == "sqlite":
        http.executor = django_thread  # requests in the one Django thread too
    try:
        yield from _serve(one_thread(application, django_thread) if connection.vendor == "sqlite" else application)
    finally:
        http.executor = served_by


def _serve(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or its first request (URLs, templates) is slow on a busy machine
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the in-process server did not start")
        time.sleep(0.02)  # nothing to wait on but the socket
    yield url
    server.should_exit = True
    thread.join(timeout=5)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=5)


@pytest.fixture
def x_api() -> Iterator[Mocker]:
    """X's API, mocked in every thread; everything else (the live server) goes through."""
    with Mocker(real_http=True) as mocker:
        mocker.post(
            CREATE_TWEET_URL,
            status_code=201,
            json=fixture("create_tweet_201.json"),
            headers={"Content-Type": "application/json"},
        )
        yield mocker


def tweets_posted(x_api: Mocker) -> list[dict[str, Any]]:
    return [r.json() for r in x_api.request_history if r.method == "POST" and r.url == CREATE_TWEET_URL]


@pytest.fixture
def new_context(live_url: str) -> Iterator[Callable[[], Any]]:
    """Browser contexts (one per person, each with its own cookies), closed after the test.

    Chromium starts at the first call, once the test's data is in place: from then on,
    Playwright's sync API marks its event loop as running in this thread between its
    calls, and Django refuses database work here (see ``read_db``).
    """
    driver: Any = None
    browser: Any = None
    contexts: list[Any] = []

    def make() -> Any:
        nonlocal driver, browser
        if browser is None:
            driver = playwright.sync_playwright().start()
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_url)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    if browser is not None:
        browser.close()
        driver.stop()


@pytest.fixture
def read_db(django_thread: ThreadPoolExecutor) -> Callable[[Callable[[], T]], T]:
    """Run a database read in the Django thread: Django refuses this one while Playwright's loop runs here."""

    def read(query: Callable[[], T]) -> T:
        def run() -> T:
            try:
                return query()
            finally:
                if connection.vendor != "sqlite":
                    connections.close_all()  # as the server closes its own after each request

        return django_thread.submit(run).result()

    return read


# --- Data -----------------------------------------------------------------------------------


@pytest.fixture
def x_account(transactional_db: None) -> SocialAccount:
    return SocialAccount.objects.create(
        platform="x", external_id=ACCOUNT_ID, name="Northwind Help", handle="northwind_help", enabled=True
    )


def available(user: Any) -> Any:
    do_set_presence(user.agent_profile, "available")
    return user


@pytest.fixture
def trainee(care_team: Team) -> Any:
    user = do_create_user("tom", "pw-tom-12345", role=AGENT, first_name="Tom", team=care_team)
    # Trainee status is set by a supervisor in the admin; there is no action for it.
    AgentProfile.objects.filter(user=user).update(is_trainee=True)
    return user


_tweet_ids = iter(range(1861000000000000301, 1861000000000000400))


def x_time(moment: datetime) -> str:
    """A v1.1 ``created_at`` ("Fri Nov 20 10:05:44 +0000 2026"), in English whatever the locale."""
    moment = moment.astimezone(UTC)
    weekday = "Mon Tue Wed Thu Fri Sat Sun".split()[moment.weekday()]
    month = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[moment.month - 1]
    return f"{weekday} {month} {moment.day:02d} {moment:%H:%M:%S} +0000 {moment.year}"


def deliver_tweet(url: str, text: str, *, name: str = "Priya K") -> str:
    """Post a signed Account Activity delivery with one new tweet to the live server; the tweet's id."""
    payload = fixture("account_activity_tweet_create.json")
    tweet = payload["tweet_create_events"][0]
    tweet_id = str(next(_tweet_ids))
    tweet.update(id=int(tweet_id), id_str=tweet_id, text=text, created_at=x_time(timezone.now()))
    tweet["user"]["name"] = name
    body = json.dumps(payload).encode()
    signature = base64.b64encode(hmac.new(CONSUMER_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = requests.post(
        f"{url}/webhooks/x/",
        data=body,
        headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": f"sha256={signature}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1
    return tweet_id


# --- Browser steps ----------------------------------------------------------------------------


def log_in(context: Any, username: str, password: str) -> Any:
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return page


def open_live(page: Any, path: str) -> None:
    """Open ``path`` and wait until its websocket is connected, so no event can be missed."""
    page.goto(path)
    expect(page.locator("[data-live-status]")).to_have_class(re.compile(r"\bon\b"))


def inbox_rows(page: Any) -> Any:
    return page.locator("[data-inbox] tr[data-href]")


def type_and_settle(page: Any, field: Any, text: str, url_part: str) -> None:
    """Type ``text`` key by key, then wait until every fetch to ``url_part`` the keys started has finished.

    The composer fetches templates on each key; answers can come back in any order, and
    a late one would show the list again after a template was picked.
    """
    started: set[Any] = set()
    finished: set[Any] = set()

    def on_request(request: Any) -> None:
        if url_part in request.url:
            started.add(request)

    def on_done(request: Any) -> None:
        if url_part in request.url:
            finished.add(request)

    page.on("request", on_request)
    page.on("requestfinished", on_done)
    page.on("requestfailed", on_done)
    try:
        last_query = "q=" + requests.utils.quote(text, safe="")
        with page.expect_response(lambda response: url_part in response.url and last_query in response.url):
            field.press_sequentially(text)
        # Requests are reported in the order the page made them: all are known by now.
        while started - finished:
            page.wait_for_event("requestfinished", predicate=lambda request: url_part in request.url)
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("requestfinished", on_done)
        page.remove_listener("requestfailed", on_done)


# --- Scenarios ---------------------------------------------------------------------------------


def test_a_new_tweet_appears_live_and_is_answered_with_a_template_and_resolved(
    new_context: Callable[[], Any],
    live_url: str,
    read_db: Callable[[Callable[[], Any]], Any],
    x_api: Mocker,
    x_account: SocialAccount,
    queue: Queue,
    agent: Any,
) -> None:
    available(agent)
    ResponseTemplate.objects.create(
        name="Apology", shortcut="sorry", body="Sorry {customer_first_name}, we are on it. Ref {case_reference}"
    )
    page = log_in(new_context(), "ana", "pw-ana-12345")
    open_live(page, "/inbox/")
    expect(inbox_rows(page)).to_have_count(0)

    tweet_id = deliver_tweet(live_url, "@northwind_help the outage map says fixed but I'm still offline in Leeds")
    delivered = time.monotonic()
    expect(inbox_rows(page)).to_have_count(1, timeout=LIVE * 1000)
    assert time.monotonic() - delivered <= LIVE
    conversation = read_db(Conversation.objects.get)
    assert conversation.state == S.ASSIGNED and conversation.assigned_agent_id == agent.pk
    expect(inbox_rows(page)).to_contain_text("still offline in Leeds")

    inbox_rows(page).get_by_role("link", name=str(conversation.pk), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{conversation.pk} · Priya K")
    reply = page.locator("[data-reply]")
    reply.click()
    type_and_settle(page, reply, "/sorry", "/templates/")
    expected = f"Sorry Priya, we are on it. Ref #{conversation.pk}"
    expect(page.locator("[data-suggestions] li.active")).to_contain_text(expected)
    reply.press("Enter")
    expect(reply).to_have_value(expected)
    expect(page.locator("[data-suggestions]")).to_be_hidden()
    page.locator("[data-resolve-with]").select_option(label="…and resolve: Answered")
    reply.press("Control+Enter")

    expect(page.locator(".flash")).to_contain_text("Replied and resolved.")
    assert tweets_posted(x_api) == [{"text": expected, "reply": {"in_reply_to_tweet_id": tweet_id}}]
    conversation = read_db(Conversation.objects.get)
    assert conversation.state == S.RESOLVED and conversation.disposition == "answered"
    sent = read_db(Message.objects.filter(direction=Direction.OUTBOUND).get)
    assert (sent.delivery, sent.external_id, sent.text) == (Delivery.SENT, POSTED_ID, expected)
    expect(page.locator(".heading .pill")).to_have_text("Resolved")
    expect(page.locator(f"#m{sent.pk} .badge")).to_have_text(f"Posted · {POSTED_ID}")


def test_a_trainees_reply_is_posted_as_the_supervisor_edited_it(
    new_context: Callable[[], Any],
    live_url: str,
    read_db: Callable[[Callable[[], Any]], Any],
    x_api: Mocker,
    x_account: SocialAccount,
    queue: Queue,
    trainee: Any,
    supervisor: Any,
) -> None:
    available(trainee)
    supervisor_page = log_in(new_context(), "sofia", "pw-sofia-12345")
    open_live(supervisor_page, "/approvals/")
    trainee_page = log_in(new_context(), "tom", "pw-tom-12345")
    open_live(trainee_page, "/inbox/")

    tweet_id = deliver_tweet(live_url, "@northwind_help my bill doubled this month, why?")
    inbox_rows(trainee_page).get_by_role("link", name="my bill doubled").click()
    trainee_page.locator("[data-reply]").fill("hi priya we will check ur bill")
    trainee_page.get_by_role("button", name="Send").click()
    expect(trainee_page.locator(".flash")).to_contain_text("waits for a supervisor's approval")
    held = read_db(Message.objects.filter(direction=Direction.OUTBOUND).get)
    assert held.delivery == Delivery.PENDING_APPROVAL
    assert tweets_posted(x_api) == []

    # The approvals page reloads itself when a reply is held.
    text = supervisor_page.locator("[data-approval-text]")
    expect(text).to_have_value("hi priya we will check ur bill")
    edited = "Hi Priya, we are checking your bill now and will reply here today. ^Sofia"
    text.fill(edited)
    supervisor_page.get_by_role("button", name="Approve and send").click()

    expect(supervisor_page.locator(".flash")).to_contain_text("Approved: the reply is on its way.")
    assert tweets_posted(x_api) == [{"text": edited, "reply": {"in_reply_to_tweet_id": tweet_id}}]
    held = read_db(Message.objects.filter(direction=Direction.OUTBOUND).get)
    assert (held.delivery, held.external_id, held.text, held.reviewed_by_id) == (
        Delivery.SENT,
        POSTED_ID,
        edited,
        supervisor.pk,
    )
    # The trainee's open conversation follows along.
    expect(trainee_page.locator(f"#m{held.pk}")).to_contain_text(edited)
    expect(trainee_page.locator(f"#m{held.pk} .badge")).to_have_text(f"Posted · {POSTED_ID}")


def test_customer_html_is_shown_as_text_and_never_runs(
    new_context: Callable[[], Any], live_url: str, x_account: SocialAccount, queue: Queue, agent: Any
) -> None:
    available(agent)
    page = log_in(new_context(), "ana", "pw-ana-12345")
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_live(page, "/inbox/")
    name = '<img src=x onerror=alert("name")>'
    text = '<script>alert("text")</script><img src=x onerror=alert("img")> why is my bill wrong'

    deliver_tweet(live_url, text, name=name)

    # Inserted live (innerHTML of a server-rendered fragment), then on the conversation page.
    row = inbox_rows(page)
    expect(row).to_contain_text('<script>alert("text")</script>')
    expect(row).to_contain_text(name)
    row.get_by_role("link", name=re.compile("script")).click()
    message = page.locator(".thread .message.in")
    expect(message.locator("p")).to_have_text(text)
    expect(message.locator("header strong")).to_have_text(name)
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    assert page.locator("main img, main script").count() == 0
    open_live(page, "/inbox/")  # the inbox rendered whole, not only its live fragment
    expect(inbox_rows(page)).to_contain_text(name)
    assert page.locator("main img, main script").count() == 0
    assert dialogs == []


CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_every_page_works_under_the_content_security_policy(
    new_context: Callable[[], Any],
    live_url: str,
    x_account: SocialAccount,
    queue: Queue,
    supervisor: Any,
    admin_user: Any,
) -> None:
    deliver_tweet(live_url, "@northwind_help is the outage over?")
    conversation = Conversation.objects.get()
    pages = {
        "sofia": (
            "pw-sofia-12345",
            ["/", "/inbox/", f"/conversations/{conversation.pk}/", "/approvals/", "/qa/", "/qa/scorecards/"],
        ),
        "ada": (
            "pw-ada-12345",
            [
                "/reports/",
                "/reports/speed/?group_by=day",
                "/api/docs/",
                "/admin/",
                "/admin/core/conversation/",
                f"/admin/core/conversation/{conversation.pk}/change/",
                "/admin/routing/queue/add/",
                "/admin/routing/routingrule/",
            ],
        ),
    }
    violations: dict[str, list[str]] = {}
    for username, (password, paths) in pages.items():
        context = new_context()
        context.add_init_script(CSP_WATCH)
        page = log_in(context, username, password)
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if found := page.evaluate("window.__cspViolations"):
                violations[path] = found
        if username == "ada":
            page.goto("/api/docs/")
            # The docs' own script (a file, not inline) ran and rendered the schema.
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Switchboard API")

    assert violations == {}
