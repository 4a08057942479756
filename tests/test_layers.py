"""The packages' layers: imports only go down (pyproject.toml's import-linter contract, ../shared/STYLE.md)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    """import-linter's own command line on `folder`'s pyproject.toml, its packages first on the path."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--no-cache"]
    return subprocess.run(command, cwd=folder, env={**os.environ, "PYTHONPATH": str(folder)},
                          capture_output=True, text=True, timeout=300)


def test_the_project_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract_and_is_named(tmp_path):
    """The same contract on a stand-in tree where generation/ imports training/: the check fails, naming the line."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]", f"root_packages = {settings['root_packages']!r}".replace("'", '"'), ""]
    for contract in settings["contracts"]:
        lines += ["[[tool.importlinter.contracts]]", f'name = "{contract["name"]}"', f'type = "{contract["type"]}"',
                  "layers = [" + ", ".join(f'"{layer}"' for layer in contract["layers"]) + "]", ""]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines))
    for package in settings["root_packages"]:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "training" / "build.py").write_text("import generation.loading\n")       # down: allowed
    (tmp_path / "generation" / "loading.py").write_text("def load():\n    from training import build\n")  # up
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "generation.loading -> training.build (l.2)" in result.stdout, result.stdout
