"""The package's shape, checked: no import cycle, dependencies pointing one way, and the names that
several modules share (store keys, labels, step names) built only in the module that defines them."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import activeloop

PACKAGE = Path(activeloop.__file__).parent
LAYERS = ["errors", "registry", "api", "ml", "store", "steps", "lifecycle", "controller", "local", "service",
          "web", "cli"]


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> set[str]:
    """Every activeloop module ``name`` imports, at the top or inside a function."""
    found = set()
    package = name if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists() else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("activeloop")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("activeloop"):
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


def test_the_package_has_no_import_cycle():
    graph = {name: _imports(name, tree) for name, tree in MODULES.items()}
    # a package's __init__ importing its own modules is not a cycle of meaning; edges into a
    # package from its own children (``from activeloop.x import y`` inside activeloop.x.z) are
    graph = {n: {m for m in deps if not (n.startswith(m + ".") and m != "activeloop")} for n, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def _layer(module: str) -> str | None:
    part = module.split(".")[1] if module.count(".") else None
    return part if part in LAYERS else None


def test_dependencies_point_one_way():
    """api <- ml <- steps <- lifecycle <- controller/local <- service <- web <- cli; ML code imports no
    Kubernetes client; the steps and lifecycle know nothing of the runners above them."""
    order = {layer: i for i, layer in enumerate(LAYERS)}
    siblings = {frozenset({"controller", "local"})}
    for name, tree in MODULES.items():
        mine = _layer(name)
        if mine is None:
            continue
        for dep in _imports(name, tree):
            theirs = _layer(dep)
            if theirs is None or theirs == mine:
                continue
            assert frozenset({mine, theirs}) not in siblings, f"{name} imports its sibling {dep}"
            assert order[theirs] < order[mine], f"{name} ({mine}) imports {dep} ({theirs}), which is above it"
    for name, tree in MODULES.items():
        if _layer(name) in ("api", "ml", "steps", "lifecycle", "store"):
            text = ast.unparse(tree)
            assert not re.search(r"^\s*(import|from) (kubernetes|kopf)\b", text, re.M), f"{name} imports Kubernetes"


# ------------------------------------------------------------------------- one vocabulary

KEY_MODULE = "activeloop.store.keys"
NAMING_MODULE = "activeloop.api.naming"
NAMES_MODULE = "activeloop.api.names"
KEY_SHAPES = re.compile(r"^(rounds/|assays/|students/|zero-shot/|round-\d)|^(campaign\.yaml|measurements\.csv|"
                        r"status\.json|proposals\.csv|(tune|acquire|inputs|closed)\.json|surrogate\.pkl)$")
STEP_NAMES = {"tune", "score", "acquire", "distil"}


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    # a string on its own line right after an assignment documents it
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    ids.add(id(stmt.value))
    return ids


def offences(tree: ast.Module, name: str) -> list[str]:
    """Store keys, label or annotation keys, and step-name tuples built outside their modules."""
    out = []
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if name != KEY_MODULE and KEY_SHAPES.search(node.value):
                out.append(f"line {node.lineno}: store key {node.value!r}")
            if name != NAMING_MODULE and re.match(r"^activeloop\.dev/\w", node.value):
                out.append(f"line {node.lineno}: label or annotation {node.value!r}")
        if isinstance(node, ast.JoinedStr) and name != KEY_MODULE:
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            calls = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
            if any(isinstance(c.func, ast.Name) and c.func.id == "round_prefix" for c in calls) or \
                    re.search(r"(^|/)(rounds/round-|assays/|students/)", text):
                out.append(f"line {node.lineno}: store key built by hand")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and name != NAMES_MODULE:
            words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(words & STEP_NAMES) >= 2:
                out.append(f"line {node.lineno}: step names {sorted(words & STEP_NAMES)}")
    return out


def test_shared_names_are_built_only_where_they_are_defined():
    found = {name: offences(tree, name) for name, tree in MODULES.items() if not name.startswith("activeloop.testing")}
    assert {n: o for n, o in found.items() if o} == {}


def test_the_vocabulary_check_catches_each_kind_of_offence():
    bad = ast.parse('KEY = "rounds/round-001/proposals.csv"\nLABEL = "activeloop.dev/campaign"\n'
                    'STEPS = ("tune", "acquire")\nx = f"{round_prefix(2)}/tune.json"\n')
    assert len(offences(bad, "activeloop.web.somewhere")) == 4
    assert offences(ast.parse('"""Keys like rounds/round-001 are documented here."""\n'), "activeloop.x") == []


# ------------------------------------------------------------------------ one source of truth

def test_the_python_api_defaults_to_what_a_campaign_spec_defaults_to():
    from activeloop.api.campaign import AcquisitionSpec, SurrogateSpec
    from activeloop.ml.loop import propose_batch

    params = inspect.signature(propose_batch).parameters
    assert params["surrogate"].default == SurrogateSpec.model_fields["kind"].default == "gp_epistasis_auto"
    assert params["transform"].default == SurrogateSpec.model_fields["transform"].default == "rank"
    assert params["acquisition"].default == AcquisitionSpec.model_fields["strategy"].default


def test_importing_the_operator_registers_no_metric():
    """Metrics are made by the operator at startup and passed in; importing registers nothing in
    Prometheus's global registry, and two operators in one process do not collide."""
    import subprocess
    import sys

    code = ("import activeloop.controller.handlers, activeloop.controller.loop\n"
            "from prometheus_client import REGISTRY\n"
            "names = [n for c in list(REGISTRY._collector_to_names) for n in REGISTRY._collector_to_names[c]]\n"
            "assert not [n for n in names if n.startswith('activeloop')], names\n"
            "from activeloop.controller.metrics import Metrics\n"
            "a, b = Metrics(), Metrics()\n"
            "a.reconciles.labels(outcome='ok').inc()\n"
            "assert a.registry.get_sample_value('activeloop_reconcile_total', {'outcome': 'ok'}) == 1.0\n"
            "assert b.registry.get_sample_value('activeloop_reconcile_total', {'outcome': 'ok'}) is None\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_no_module_keeps_state_of_its_own():
    """Caches belong to the objects that use them (a store's parsed artifacts, a run directory's
    state), never to a module: two stores or two tests never share one."""
    offenders = []
    for name, tree in MODULES.items():
        if name.startswith("activeloop.testing"):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                value = node.value
                if isinstance(value, ast.Dict) and not value.keys or (
                        isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                        and value.func.id in ("OrderedDict", "dict") and not value.args):
                    offenders.append(f"{name}: line {node.lineno}")
    assert offenders == []
