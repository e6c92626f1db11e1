"""The course's launch links come from one address, ``[project.urls] Repository`` in pyproject.toml.

The README's Binder block is generated from it (``make links``) and must not drift; the website's
config gets it from the same place (site/build.py); a fork that changes the line changes every link.
tests/test_site.py checks the built website's buttons in a browser.
"""
import importlib.util
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"rtt_site_{name}", ROOT / "site" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


links = load("links")


def declared() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_the_readme_binder_block_is_the_one_made_from_pyproject():
    block = links.readme_block((ROOT / "README.md").read_text())
    assert block == links.readme_section(), "README.md's Binder block is stale: run `make links`"
    org, repo = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", declared()).groups()
    found = re.findall(r"https://mybinder\.org/v2/gh/([^/]+)/([^/]+)/", block)
    assert found and set(found) == {(org, repo)}
    assert "[project.urls]" in block and "make links" in block          # the one line a fork needs


def test_a_fork_changes_one_line_and_every_link_follows(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace(declared(), "https://github.com/a-school/dice-course"))
    address = links.repository(pyproject)
    assert address == "https://github.com/a-school/dice-course"
    block = links.readme_section(address)
    assert declared() not in block and "mybinder.org/v2/gh/rtt-edu" not in block
    lessons = links.lessons()
    launch = r"https://mybinder\.org/v2/gh/a-school/dice-course/main\?urlpath=lab/tree/notebooks/"
    assert len(re.findall(launch, block)) == len(lessons) + 1            # the badge and one link per lesson
    hub = urlsplit(links.jupyterhub_url("https://hub.example.edu/", lessons[3], address))
    assert (hub.scheme, hub.netloc, hub.path) == ("https", "hub.example.edu", "/hub/user-redirect/git-pull")
    assert parse_qs(hub.query) == {"repo": [address], "branch": ["main"],
                                   "urlpath": [f"lab/tree/dice-course/{lessons[3]}"]}


@pytest.mark.parametrize("line,named", [
    ('[project.urls]\nHomepage = "https://example.org"\n', "has no Repository"),
    ('[project.urls]\nRepository = "https://gitlab.example.org/a/b"\n', "'https://gitlab.example.org/a/b'"),
    ('[project.urls]\nRepository = "https://github.com/only-an-org"\n', "is not https://github.com/<org>/<repo>"),
])
def test_an_address_links_cannot_be_made_from_is_refused_by_name(tmp_path, line, named):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n' + line)
    with pytest.raises(links.LinkError) as error:
        links.repository(pyproject)
    assert "[project.urls]" in str(error.value) and named in str(error.value)


def test_the_address_is_written_nowhere_else():
    """The site's files take the address from pyproject.toml; only the README's generated block repeats it."""
    address = declared()
    org_repo = address.split("github.com/", 1)[1]
    for path in (ROOT / "site").rglob("*"):
        if path.is_file() and path.suffix in (".md", ".yml", ".py", ".css"):
            assert org_repo not in path.read_text(), f"{path.relative_to(ROOT)} names the repository itself"
    readme = (ROOT / "README.md").read_text()
    assert address not in readme.replace(links.readme_block(readme), "")


def test_the_site_config_gets_the_address_every_lesson_and_the_teachers_pages(tmp_path):
    pytest.importorskip("yaml")
    sys.path.insert(0, str(ROOT / "site"))
    try:
        build = load("build")
    finally:
        sys.path.remove(str(ROOT / "site"))
    settings, own, fills = build.config("https://hub.example.edu", links.lessons())
    assert settings["repository"] == {"url": declared(), "branch": "main", "path_to_book": ""}
    assert settings["launch_buttons"]["jupyterhub_url"] == "https://hub.example.edu"
    assert "rtt_site" not in settings and own["teachers_guide"]               # the guide's slot, read by build.py
    assert fills["{{ binder_first_lesson }}"] == links.binder_url(links.lessons()[0])
    guide = ["teachers/guide/00_what_is_learning.md"]
    toc = build.toc(links.lessons(), guide)
    files = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    assert files["The lessons"] == [Path(p).with_suffix("").as_posix() for p in links.lessons()]
    assert files["For teachers"] == ["notebooks/README", "teachers/guide/00_what_is_learning"]
    assert files["Reference"] == ["notebooks/GLOSSARY", "site/api"]
    page = tmp_path / "teachers" / "guide" / "03_moons.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Lesson 3: the guide\n")
    (tmp_path / "teachers" / "guide" / "notes.txt").write_text("not a page")
    assert build.teachers_guide(own["teachers_guide"], root=tmp_path) == ["teachers/guide/03_moons.md"]
