"""The course's launch links, all made from one address: ``Repository`` in ``pyproject.toml``'s ``[project.urls]``.

From it come the README's Binder badge and per-lesson links (the ``<!-- section:binder -->`` block)
and the website's launch buttons (``site/build.py`` hands it to the book's config). A fork changes
that one line, then runs ``make links`` to rewrite the README's block.

    python site/links.py            print the README's Binder block as it should be
    python site/links.py --write    rewrite the block in README.md
    python site/links.py --check    exit 1 (saying what differs) when README.md's block is not that

URLs (``org/repo`` from the address, ``path`` a lesson's path in the repository):

- Binder:      ``https://mybinder.org/v2/gh/<org>/<repo>/<BRANCH>?urlpath=lab/tree/<path>``
- JupyterHub:  ``<hub>/hub/user-redirect/git-pull?repo=<address>&urlpath=lab/tree/<repo>/<path>&branch=<BRANCH>``
  (nbgitpuller clones the repository into a folder named after it, then opens the lesson)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urlencode

try:
    import tomllib
except ImportError:                      # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"
BRANCH = "main"                          # the branch every launch link opens
BINDERHUB = "https://mybinder.org"
LESSONS = "notebooks/[0-9][0-9]_*.ipynb"
SECTION = re.compile(r"(<!-- section:binder -->\n)(.*?)(<!-- /section:binder -->)", re.S)
_GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+?)(?:\.git)?/?")


class LinkError(ValueError):
    """The repository address is missing or not a GitHub repository's address."""


def repository(pyproject: Path = PYPROJECT) -> str:
    """The address in ``[project.urls] Repository``, checked: ``https://github.com/<org>/<repo>``."""
    urls = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("urls", {})
    address = urls.get("Repository")
    if not isinstance(address, str):
        raise LinkError(f"{pyproject.name}: [project.urls] has no Repository address (the course's launch links "
                        'are made from it), e.g. Repository = "https://github.com/<org>/<repo>"')
    if not _GITHUB.fullmatch(address):
        raise LinkError(f"{pyproject.name}: [project.urls] Repository = {address[:60]!r} is not "
                        "https://github.com/<org>/<repo> (Binder and nbgitpuller links need a GitHub address)")
    org, repo = _GITHUB.fullmatch(address).groups()
    return f"https://github.com/{org}/{repo}"


def parts(address: str | None = None) -> tuple[str, str]:
    """``(org, repo)`` of the address."""
    return _GITHUB.fullmatch(address or repository()).groups()


def binder_url(path: str, address: str | None = None) -> str:
    """mybinder.org's link that builds the repository's image and opens ``path`` in JupyterLab."""
    org, repo = parts(address)
    return f"{BINDERHUB}/v2/gh/{org}/{repo}/{BRANCH}?urlpath=lab/tree/{path}"


def jupyterhub_url(hub: str, path: str, address: str | None = None) -> str:
    """The nbgitpuller link for a JupyterHub at ``hub``: pull the repository, open ``path``."""
    address = address or repository()
    _, repo = parts(address)
    query = urlencode({"repo": address, "urlpath": f"lab/tree/{repo}/{path}", "branch": BRANCH}, safe="/")
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def lessons(root: Path = ROOT) -> list[str]:
    """The lessons' paths in the repository, in course order."""
    return sorted(path.relative_to(root).as_posix() for path in root.glob(LESSONS))


def lesson_title(path: str) -> str:
    """``notebooks/04_a_toy_network_on_moons.ipynb`` → ``4 a toy network on moons``."""
    number, _, words = Path(path).stem.partition("_")
    return f"{int(number)} {words.replace('_', ' ')}"


def readme_section(address: str | None = None, root: Path = ROOT) -> str:
    """The README's Binder block (between its markers), made from the address."""
    address = address or repository()
    paths = lessons(root)
    links = " · ".join(f"[{lesson_title(path)}]({binder_url(path, address)})" for path in paths)
    return (f"[![Open the course on Binder](https://mybinder.org/badge_logo.svg)]({binder_url(paths[0], address)})\n"
            f"Each lesson on Binder (no installation, about a minute to start): {links}\n\n"
            f"The course is also a website (`make site`), each lesson with its Binder and JupyterHub launch "
            f"buttons. Every one of these links is made from `Repository` under `[project.urls]` in "
            f"`pyproject.toml` ({address}): a fork changes that line and runs `make links`.\n")


def readme_block(text: str) -> str:
    found = SECTION.search(text)
    if found is None:
        raise LinkError("README.md has no <!-- section:binder --> ... <!-- /section:binder --> block")
    return found.group(2)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    wanted = readme_section()
    if not args:
        print(wanted, end="")
        return 0
    text = README.read_text(encoding="utf-8")
    if args == ["--check"]:
        if readme_block(text) == wanted:
            return 0
        print("README.md's Binder block differs from the links made from pyproject.toml's [project.urls] "
              "Repository; run `make links`", file=sys.stderr)
        return 1
    if args == ["--write"]:
        readme_block(text)                                     # the markers must be there
        new = SECTION.sub(lambda m: m.group(1) + wanted + m.group(3), text, count=1)
        if new != text:
            tmp = README.with_suffix(".md.tmp")
            tmp.write_text(new, encoding="utf-8")
            tmp.replace(README)                                # atomic: the README is never half written
        return 0
    print(f"usage: python site/links.py [--check | --write]; got {' '.join(args)[:60]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
