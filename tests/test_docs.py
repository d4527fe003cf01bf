"""The documentation: the MkDocs site under docs/ builds with --strict (mkdocs.yml turns a page left out
of the nav, a link to a missing page or file and a link to a missing #anchor into warnings, which
--strict makes fatal), and every relative link in README.md (outside docs/, so MkDocs never sees it)
points at a file that exists, and at a heading that exists when it names one. Both checks are shown to
fail on a copy with one broken link."""
from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import markdown
import pytest

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).with_name("mkdocs")
README_FIRST_SCREEN = 40  # lines a newcomer sees without scrolling


def build_site(project: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of ``project``'s mkdocs.yml into ``site``."""
    return subprocess.run([str(MKDOCS), "build", "--strict", "--config-file", str(project / "mkdocs.yml"),
                           "--site-dir", str(site)], cwd=project, capture_output=True, text=True, timeout=120)


class _Targets(HTMLParser):
    """Every href and src in a page, and every id (anchor) it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            elif name in ("id", "name") and value:
                self.ids.add(value)


def _parse(html: str) -> _Targets:
    parser = _Targets()
    parser.feed(html)
    return parser


def broken_readme_links(readme: Path, site: Path) -> list[str]:
    """Relative links in ``readme`` whose file is missing, or whose #anchor the built ``site`` lacks."""
    html = markdown.markdown(readme.read_text(encoding="utf-8"), extensions=["tables", "fenced_code"])
    broken = []
    for link in _parse(html).links:
        parts = urlsplit(link)
        if parts.scheme or parts.netloc or not parts.path:  # web addresses; anchors within the README
            continue
        target = (readme.parent / unquote(parts.path)).resolve()
        if not target.exists():
            broken.append(f"{link}: no such file")
            continue
        if parts.fragment and target.suffix == ".md":
            page = site / target.relative_to(readme.parent.resolve() / "docs").with_suffix(".html")
            if not page.is_file() or parts.fragment not in _parse(page.read_text(encoding="utf-8")).ids:
                broken.append(f"{link}: no heading #{parts.fragment} in {target.name}")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real docs, built once with --strict."""
    out = tmp_path_factory.mktemp("site")
    result = build_site(ROOT, out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy)
    shutil.copy(ROOT / "README.md", copy)
    shutil.copytree(ROOT / "docs", copy / "docs")
    return copy


def test_docs_build_strict(site: Path) -> None:
    assert (site / "index.html").is_file() and (site / "architecture.html").is_file()


def test_readme_links_resolve(site: Path) -> None:
    assert broken_readme_links(ROOT / "README.md", site) == []


def test_readme_first_screen_shows_the_system_and_its_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:README_FIRST_SCREEN])
    for shown in ("vision_node", "planner_node", "tactile_node", "coordinator_node", "make demo", "make test"):
        assert shown in first_screen, shown


@pytest.mark.parametrize("broken, named", [
    ("[a page that is not there](no-such-page.md)", "no-such-page.md"),
    ("[a heading that is not there](planner.md#no-such-heading)", "no-such-heading"),
    ("![a missing picture](images/no-such-picture.png)", "no-such-picture.png"),
])
def test_strict_build_fails_on_a_broken_link(tmp_path: Path, broken: str, named: str) -> None:
    copy = _project_copy(tmp_path)
    with open(copy / "docs" / "cell.md", "a", encoding="utf-8") as page:
        page.write(f"\n{broken}\n")
    result = build_site(copy, tmp_path / "site")
    assert result.returncode != 0 and named in result.stdout + result.stderr


def test_readme_check_fails_on_a_broken_link(tmp_path: Path, site: Path) -> None:
    copy = _project_copy(tmp_path)
    readme = copy / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8")
                      + "\n[gone](docs/no-such-page.md) [no heading](docs/planner.md#no-such-heading)\n"
                      + "[fine](docs/planner.md#moveit-2-on-the-cell)\n", encoding="utf-8")
    assert broken_readme_links(readme, site) == ["docs/no-such-page.md: no such file",
                                                 "docs/planner.md#no-such-heading: no heading #no-such-heading "
                                                 "in planner.md"]
