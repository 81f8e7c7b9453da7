"""The core imports no app: prm is below partners, leads, training and kpi, and the composition (portal) and the
demo sit above them. Checked on the source, so a lazy import inside a function counts too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = {"partners", "leads", "training", "kpi", "portal", "demo"}


def _imported_top_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_prm_imports_no_app():
    offenders = {}
    for path in sorted((ROOT / "prm").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts:
            continue
        apps = _imported_top_packages(path) & APPS
        if apps:
            offenders[str(rel)] = sorted(apps)
    assert offenders == {}
