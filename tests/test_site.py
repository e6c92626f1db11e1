"""The course website in a real browser: built by site/build.py, every page opened in headless Chromium.

The site is built once (offline, from the lessons' committed outputs, with a JupyterHub address
set as a teacher would set it), served on 127.0.0.1, and every page is opened through Playwright
with Debian's Chromium. Checked: no broken internal link (page or #fragment) and no missing image;
every image has alt text; each lesson's panels show their pictures; each lesson's launch buttons
(Binder, JupyterHub through nbgitpuller) are made from pyproject.toml's one repository address and
open that lesson; the search finds a glossary term; the API page documents every public name.
Screenshots of the home page, a lesson with a panel and the glossary go to artifacts/site/.

Needs /usr/bin/chromium, the ``playwright`` package (the ``browser`` extra) and Jupyter Book (the
``docs`` extra). Without them the test is skipped, except under CI=true, where it fails.
"""
import base64
import functools
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import pytest

try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "site"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HUB = "https://hub.example.edu"          # a teacher's hub, entered for this build
LESSONS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PANEL_REPR = re.compile(r"^[A-Z]\w*Panel\(")
GLOSSARY_TERM = "temperature"


def require_site_tools():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    for module, how in (("playwright", "pip install -e '.[browser]'"),
                        ("jupyter_book", "make site, or pip install -e '.[docs]'")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"the {module} package ({how})")
    if missing:
        reason = "the website test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)


def repository() -> tuple:
    """(address, org, repo) from the one place the address lives, read here without site/links.py."""
    address = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    org, repo = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", address).groups()
    return address, org, repo


# --- the site, built once, served on 127.0.0.1 -------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_site_tools()
    out = tmp_path_factory.mktemp("site")
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "site" / "build.py"), "--out", str(out), "--jupyterhub-url", HUB],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"site/build.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    html = out / "html"
    found = (p.relative_to(html) for p in html.rglob("*.html"))
    pages = sorted(page.as_posix() for page in found if not page.parts[0].startswith("_"))
    print(f"site built in {time.monotonic() - start:.1f} s: {len(pages)} pages")
    return html, pages


@pytest.fixture(scope="module")
def server(site):
    html, _ = site
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1300, "height": 900})
        try:
            yield context
        finally:
            context.close()


READ_PAGE = """() => ({
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  images: [...document.querySelectorAll('img')].map(i => ({src: i.currentSrc || i.src, alt: i.getAttribute('alt'),
                                                          width: i.naturalWidth, complete: i.complete})),
  launch: [...document.querySelectorAll('.dropdown-launch-buttons a[href]')].map(a => ({text: a.textContent.trim(),
                                                                                      href: a.href})),
})"""


@pytest.fixture(scope="module")
def visited(site, server, browser):
    """Every page opened in Chromium (images loaded): its ids, links, images and launch buttons."""
    _, pages = site
    page = browser.new_page()
    failed = []
    # a request the next navigation cut short (a page's lazy searchindex.js, say) is not a missing file; a file
    # the server could not give is: it answers 404, which the response listener records
    page.on("requestfailed",
            lambda request: None if request.failure == "net::ERR_ABORTED" else failed.append(request.url))
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    seen = {}
    for name in pages:
        response = page.goto(server + name, wait_until="load")
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
        seen[name] = page.evaluate(READ_PAGE)
    page.close()
    local_failures = [url for url in failed if url.startswith(server)]
    assert not local_failures, f"requests for the site's own files failed: {local_failures[:5]}"
    return seen


# --- what a reader gets ------------------------------------------------------------------------------
def test_the_site_holds_every_lesson_the_glossary_the_teachers_map_and_the_api(site):
    _, pages = site
    for stem in LESSONS:
        assert f"notebooks/{stem}.html" in pages, f"lesson {stem} has no page"
    for name in ("index.html", "site/index.html", "notebooks/GLOSSARY.html", "notebooks/README.html", "site/api.html",
                 "search.html"):
        assert name in pages, f"{name} is missing; pages: {pages}"


def test_no_broken_internal_link(visited, server, browser):
    broken, checked = [], set()
    for name, found in visited.items():
        for href in found["links"]:
            if not href.startswith(server):
                continue
            target, _, fragment = href[len(server):].partition("#")
            target = unquote(target.split("?")[0]) or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if target in visited:
                if fragment and unquote(fragment) not in visited[target]["ids"]:
                    broken.append(f"{name} -> {target}#{fragment} (no such id there)")
            elif target not in checked:
                checked.add(target)
                response = browser.request.get(server + target)
                if not response.ok:
                    broken.append(f"{name} -> {target} (HTTP {response.status})")
    assert not broken, f"{len(broken)} broken internal links: {broken[:10]}"


def test_no_missing_image_and_every_image_has_alt_text(visited):
    missing = [f"{name}: {image['src']}" for name, found in visited.items() for image in found["images"]
               if not image["complete"] or image["width"] == 0]
    assert not missing, f"images that did not load: {missing[:10]}"
    no_alt = [f"{name}: {image['src'].rsplit('/', 1)[-1]}" for name, found in visited.items()
              for image in found["images"] if not (image["alt"] or "").strip()]
    assert not no_alt, f"images without alt text: {no_alt[:10]}"
    lesson_images = [image for stem in LESSONS for image in visited[f"notebooks/{stem}.html"]["images"]
                     if "/_images/" in image["src"]]
    assert len(lesson_images) >= len(LESSONS)               # the lessons' figures are there, not only icons
    assert not [image for image in lesson_images if image["alt"].startswith("Figure:") or len(image["alt"]) < 20]


def describe(text: str) -> str:
    text = re.sub(r"^\s*Figure:\s*", "", " ".join(text.split()))
    return text[:1].upper() + text[1:]


def panel_outputs(stem: str) -> list:
    """(repr, PNG bytes or None) of each panel displayed in the committed lesson."""
    notebook = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if PANEL_REPR.match(text):
                png = data.get("image/png")
                found.append((text, base64.b64decode(png) if png else None))
    return found


def test_each_lesson_with_a_panel_shows_the_panels_pictures(visited):
    from PIL import Image
    with_panels = {stem: panel_outputs(stem) for stem in LESSONS if panel_outputs(stem)}
    assert with_panels, "no lesson displays a panel"
    unpictured = sorted({stem for stem, outputs in with_panels.items() for _, png in outputs if png is None})
    assert not unpictured, (f"panels saved without their picture (image/png) in {unpictured}: re-execute these "
                            "lessons (benchmarks/bench_notebooks.py --write notebooks/<lesson>.ipynb) so their "
                            "outputs carry it")
    for stem, outputs in with_panels.items():
        alts = [image["alt"] for image in visited[f"notebooks/{stem}.html"]["images"] if image["width"] > 0]
        for text, png in outputs:
            caption = Image.open(io.BytesIO(png)).text.get("Description", "")
            assert caption.startswith("Figure:"), f"{stem}: the picture of {text[:40]} has no caption"
            assert describe(caption) in alts, f"{stem}: the page does not show the picture of {text[:40]}"


def test_each_lesson_launches_on_binder_and_a_jupyterhub_from_the_one_address(visited):
    address, org, repo = repository()
    for stem in LESSONS:
        path = f"notebooks/{stem}.ipynb"
        launch = {button["text"]: button["href"] for button in visited[f"notebooks/{stem}.html"]["launch"]}
        assert set(launch) == {"Binder", "JupyterHub"}, f"{stem}: launch buttons {sorted(launch)}"
        assert launch["Binder"] == f"https://mybinder.org/v2/gh/{org}/{repo}/main?urlpath=lab/tree/{path}"
        hub = urlsplit(launch["JupyterHub"])
        assert f"{hub.scheme}://{hub.netloc}" == HUB and hub.path == "/hub/user-redirect/git-pull"
        assert parse_qs(hub.query) == {"repo": [address], "urlpath": [f"lab/tree/{repo}/{path}"], "branch": ["main"]}
    lessons = {f"notebooks/{stem}.html" for stem in LESSONS}
    others = [name for name, found in visited.items() if found["launch"] and name not in lessons]
    assert not others, f"pages that are not lessons with launch buttons: {others}"


def test_search_finds_a_glossary_term(server, browser):
    page = browser.new_page()
    try:
        page.goto(server + "site/index.html")
        page.locator(".bd-sidebar-primary .search-button__button").first.click()      # the sidebar's search field
        field = page.locator("#pst-search-dialog input[name='q']")
        field.fill(GLOSSARY_TERM)
        field.press("Enter")
        page.wait_for_url(re.compile(r"search\.html\?q=" + GLOSSARY_TERM))
        results = page.locator("#search-results ul.search li a")
        results.first.wait_for(timeout=30_000)
        links = results.evaluate_all("els => els.map(a => a.getAttribute('href'))")
        hrefs = [urljoin(page.url, href) for href in links]
        assert any(urlsplit(href).path.endswith("/notebooks/GLOSSARY.html") for href in hrefs), hrefs
    finally:
        page.close()


def test_the_api_page_documents_every_public_name(visited):
    import rtt_edu
    ids = set(visited["site/api.html"]["ids"])
    assert not [name for name in rtt_edu.__all__ if f"rtt_edu.{name}" not in ids]


def test_screenshots_of_the_home_page_a_lesson_with_a_panel_and_the_glossary(visited, server, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    try:
        for name in ("site/index.html", "notebooks/04_a_toy_network_on_moons.html", "notebooks/GLOSSARY.html"):
            page.goto(server + name, wait_until="load")
            shot = ARTIFACTS / (Path(name).stem + ".png")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
    finally:
        page.close()
