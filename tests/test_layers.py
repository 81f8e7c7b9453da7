"""The house shape, kept: the app-level import graph (every import, function-level ones included; migrations
excluded) runs downward through the layers, apart from a short allowlist, and has few two-app cycles. (This also
holds the core-imports-no-app check that tests/prm/test_core_imports_no_app.py used to.)

Layers, lowest first: prm (the core) < partners < training < leads < kpi < portal / demo (composition and seeds).
A new upward import fails here: move the read or view that needs the higher app into `portal/`, or invert it with
a small explicit hook (see `partners.enablement.selectors.PARTNER_SLA_SOURCE`)."""

import ast
import collections
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = ["prm", "partners", "training", "leads", "kpi", "portal", "demo"]
LAYER = {app: rank for rank, app in enumerate(APPS)}

# The only imports allowed to run from a lower layer to a higher one, each with its reason.
UPWARD_ALLOWED = {
    # Activation requires the training readiness checklist (partner_status_change), and announcements link a course.
    ("partners", "training"),
    # The commission ledger sits above the pipeline: a won deal reopened claws back, a delivery breach is a ledger
    # entry, and deal values convert through the ledger's rate table.
    ("leads", "kpi"),
}
MAX_UPWARD = 3
MAX_CYCLES = 2


def import_graph(root: pathlib.Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(importing app, imported app) -> where: every absolute import anywhere in a module, outside migrations."""
    edges: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in LAYER and top != app:
                        edges[(app, top)].append(f"{path.relative_to(root)}:{node.lineno} {module}")
    return edges


def upward(edges) -> dict[tuple[str, str], list[str]]:
    return {edge: where for edge, where in edges.items() if LAYER[edge[0]] < LAYER[edge[1]]}


def two_app_cycles(edges) -> list[tuple[str, str]]:
    return sorted((a, b) for (a, b) in edges if (b, a) in edges and a < b)


def test_graph_sees_function_level_imports(tmp_path):
    """The walker counts an import inside a function and skips migrations (else the checks below prove nothing)."""
    for app in APPS:
        (tmp_path / app / "migrations").mkdir(parents=True)
    (tmp_path / "partners" / "selectors.py").write_text("def f():\n    from kpi.models import KpiSnapshot\n")
    (tmp_path / "prm" / "migrations" / "0001_x.py").write_text("import leads\n")
    edges = import_graph(tmp_path)
    assert dict(edges) == {("partners", "kpi"): ["partners/selectors.py:2 kpi.models"]}
    assert upward(edges) == edges


def test_core_imports_no_app():
    edges = import_graph()
    assert [(edge, where) for edge, where in edges.items() if edge[0] == "prm"] == []


def test_upward_imports_are_exactly_the_allowlist():
    found = upward(import_graph())
    assert len(UPWARD_ALLOWED) <= MAX_UPWARD
    unexpected = {edge: where[:5] for edge, where in found.items() if edge not in UPWARD_ALLOWED}
    assert unexpected == {}, "import from a lower layer to a higher one: compose it in portal/ or invert it"
    assert set(found) == UPWARD_ALLOWED, "an allowlisted upward import is gone: drop it from UPWARD_ALLOWED"


def test_few_two_app_cycles():
    cycles = two_app_cycles(import_graph())
    assert len(cycles) <= MAX_CYCLES, cycles


def test_composed_partner_pages_keep_their_names():
    """The partner pages moved to portal answer under the same `partners:` names and paths."""
    from django.urls import resolve, reverse

    from portal import partner_views

    moved = {
        "partners:detail": ([1], "/partners/1/", partner_views.PartnerDetailView),
        "partners:status_change": ([1], "/partners/1/status/", partner_views.StatusChangeView),
        "partners:tier_set": ([1], "/partners/1/tier/", partner_views.TierSetView),
        "partners:account_manager_set": ([1], "/partners/1/account-manager/", partner_views.AccountManagerView),
        "partners:contact_set": ([1], "/partners/1/contacts/", partner_views.ContactSetView),
        "partners:locator": ([], "/partners/find/", partner_views.LocatorView),
        "partners:public_profile": ([1], "/partners/find/1/", partner_views.PublicProfileView),
    }
    for name, (args, path, view) in moved.items():
        assert reverse(name, args=args) == path
        assert resolve(path).func.view_class is view
    assert reverse("partners:profile_edit", args=[1]) == "/partners/1/profile/"
