"""Build the course website offline: ``python site/build.py [--out DIR] [--jupyterhub-url URL]``.

The book's source tree is assembled in ``DIR/src`` (default ``_build/site/src``) with the
repository's own layout, so each page's path there is its path in the repository and every launch
button opens the right file: ``site/`` (home, API reference), ``notebooks/`` (every lesson, the
teachers' map, the glossary) and the teacher's guide pages. A lesson's page is its student edition
made from the authored lesson with each prediction's answer folded behind a "show output" toggle
(``lessons/editions.py``): the reader predicts, then unfolds. Nothing is copied into git: the tree is
made anew on each build from the files as committed. Then Jupyter Book 1 writes Sphinx's
``conf.py`` from ``site/_config.yml`` (plus what this script adds: the repository's address and
branch from ``site/links.py``, the table of contents) and Sphinx builds ``DIR/html``, printing
its warnings (tests/test_site.py checks the pages themselves in a browser). The lessons are not
executed: their committed outputs are the pages' outputs.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

SITE = Path(__file__).resolve().parent
sys.path.insert(0, str(SITE))
import links  # noqa: E402  (site/links.py: one repository address)

sys.path.insert(0, str(SITE.parent / "lessons"))
import editions  # noqa: E402  (lessons/editions.py: the student edition from the authored lessons)

ROOT = links.ROOT
PAGES = ("site/index.md", "site/api.md")
TEACHERS = ("notebooks/README.md",)
REFERENCE = ("notebooks/GLOSSARY.md", "site/api.md")


def _doc(path: str) -> str:
    return str(Path(path).with_suffix("").as_posix())


def teachers_guide(patterns, root: Path = ROOT) -> list[str]:
    """The teacher's pages found under the configured globs: pattern by pattern, each in name order."""
    found = (sorted(path.relative_to(root).as_posix() for path in root.glob(pattern)) for pattern in patterns)
    return list(dict.fromkeys(page for pages in found for page in pages))


def toc(lessons: list[str], guide: list[str]) -> dict:
    chapters = lambda paths: [{"file": _doc(path)} for path in paths]   # noqa: E731
    return {"format": "jb-book", "root": _doc(PAGES[0]), "parts": [
        {"caption": "The lessons", "numbered": False, "chapters": chapters(lessons)},
        {"caption": "For teachers", "chapters": chapters([*TEACHERS, *guide])},
        {"caption": "Reference", "chapters": chapters(REFERENCE)},
    ]}


def config(jupyterhub_url: str | None, lessons: list[str]) -> tuple:
    """(the book's settings, rtt_site's own settings, the {{ ... }} fills of the site's pages)."""
    settings = yaml.safe_load((SITE / "_config.yml").read_text(encoding="utf-8"))
    own = settings.pop("rtt_site", {}) or {}
    address = links.repository()
    settings["repository"] = {"url": address, "branch": links.BRANCH, "path_to_book": ""}
    launch = settings.setdefault("launch_buttons", {})
    if jupyterhub_url is not None:
        launch["jupyterhub_url"] = jupyterhub_url
    launch["binderhub_url"] = links.BINDERHUB
    fills = {"{{ repository }}": address, "{{ binder_first_lesson }}": links.binder_url(lessons[0], address)}
    return settings, own, fills


def assemble(src: Path, jupyterhub_url: str | None) -> dict:
    """Lay out the book's source tree in ``src``; returns what it holds."""
    lessons = links.lessons()
    settings, own, fills = config(jupyterhub_url, lessons)
    guide = teachers_guide(own.get("teachers_guide", []))
    if src.exists():
        shutil.rmtree(src)
    for path in {*PAGES, *TEACHERS, *REFERENCE, *guide}:
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, src / path)
    for path in lessons:            # the student edition, each answer to a prediction folded (editions.py)
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        authored = ROOT / "lessons" / "source" / Path(path).name
        (src / path).write_text(editions.student_edition(str(authored), fold_answers=True), encoding="utf-8")
    for page in PAGES:              # the site's own pages name the repository's links as {{ ... }}
        text = (src / page).read_text(encoding="utf-8")
        for key, value in fills.items():
            text = text.replace(key, value)
        (src / page).write_text(text, encoding="utf-8")
    for folder in ("_ext", "_static"):
        shutil.copytree(SITE / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "_config.yml").write_text(yaml.safe_dump(settings, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (src / "_toc.yml").write_text(yaml.safe_dump(toc(lessons, guide), sort_keys=False), encoding="utf-8")
    return {"lessons": lessons, "guide": guide}


def build(out: Path, jupyterhub_url: str | None = None, quiet: bool = True) -> dict:
    start = time.perf_counter()
    src, html = out / "src", out / "html"
    held = assemble(src, jupyterhub_url)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "jupyter-book"), "config", "sphinx", str(src)], check=True,
                   stdout=subprocess.DEVNULL)
    with open(src / "conf.py", "a", encoding="utf-8") as conf:     # where the site's own extension lives
        conf.write("\nimport os, sys\nsys.path.insert(0, os.path.abspath('_ext'))\n")
    if html.exists():
        shutil.rmtree(html)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(out / "doctrees"),
               str(src), str(html)]
    subprocess.run(command + (["-q"] if quiet else []), check=True)
    generated = ("_", "genindex", "search", "py-modindex")      # Sphinx's own pages, not the course's
    pages = (p.relative_to(html).as_posix() for p in html.rglob("*.html"))
    held.update(html=html, seconds=time.perf_counter() - start,
                pages=sorted(page for page in pages if not page.startswith(generated)))
    return held


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "site", help="build folder (default _build/site)")
    parser.add_argument("--jupyterhub-url", default=None,
                        help="a JupyterHub's address for this build's launch buttons (default: site/_config.yml's)")
    args = parser.parse_args(argv)
    try:
        held = build(args.out.resolve(), args.jupyterhub_url)
    except links.LinkError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"site: the build failed ({Path(exc.cmd[0]).name} exited {exc.returncode}); see above", file=sys.stderr)
        return 1
    index = held["html"] / "index.html"
    print(f"site: {len(held['lessons'])} lessons, {len(held['guide'])} teacher's guide pages, "
          f"{len(held['pages'])} pages in {held['seconds']:.1f} s: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
