"""Packaging rules that need no build: the version's single source, the commit
record, and that pyproject.toml's package-data declares every data file in the
packages (the wheel carries only what is declared; tests/release builds one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from kubelite.util import packaged
from kubelite.version import BUILD_INFO, KUBERNETES_VERSION, Commit, __version__, build_commit, checkout_commit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kubelite", "agent", "controllers")


def declared_package_data() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    files: set[str] = set()
    for package, patterns in config["package-data"].items():
        base = REPO.joinpath(*package.split("."))
        for pattern in patterns:
            files |= {p.relative_to(REPO).as_posix() for p in base.glob(pattern) if p.is_file()}
    return files


def data_files_in_packages() -> set[str]:
    found: set[str] = set()
    for top in PACKAGES:
        for p in (REPO / top).rglob("*"):
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts \
                    and p.name != BUILD_INFO:
                found.add(p.relative_to(REPO).as_posix())
    return found


def test_every_data_file_in_the_packages_is_declared_as_package_data() -> None:
    missing = data_files_in_packages() - declared_package_data()
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {sorted(missing)}"
    assert "kubelite/examples/web.yaml" in declared_package_data()


def test_packaged_files_are_read_through_importlib_resources() -> None:
    assert packaged.read_json("kubelite.api", "k8s_schema.json")["roots"]["Pod"]
    assert packaged.path("kubelite", "examples", "web.yaml").read_text().count("kind: Deployment") == 1
    with pytest.raises(FileNotFoundError, match="kubelite:examples/absent.yaml"):
        packaged.path("kubelite", "examples", "absent.yaml")


def test_repository_examples_are_links_to_the_packaged_demo() -> None:
    for name in ("web.yaml", "web-v2.yaml"):
        link = REPO / "examples" / name
        assert link.is_symlink() and link.resolve() == (REPO / "kubelite" / "examples" / name).resolve()


def test_version_has_one_pep440_source() -> None:
    assert str(Version(__version__)) == __version__
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in config["project"] and "version" in config["project"]["dynamic"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "kubelite.version.__version__"}
    assert KUBERNETES_VERSION[2] == f"v{KUBERNETES_VERSION[0]}.{KUBERNETES_VERSION[1]}.0"


def test_commit_of_a_checkout_and_of_a_recorded_build(tmp_path: Path) -> None:
    commit = checkout_commit(REPO)
    if (REPO / ".git").exists():  # CI runs from a clone; an unpacked sdist has no .git
        assert commit is not None and len(commit.sha) == 40 and build_commit() == commit
    assert checkout_commit(tmp_path) is None
    assert Commit("a" * 40, dirty=True).short() == "a" * 12 + "-dirty"
    assert Commit().short() == "unknown" and Commit().tree_state == ""
