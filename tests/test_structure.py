"""The shape of `common/`: layers that import only downward (the map in CONTRIBUTING.md), no import cycle, and
the size guides (modules, functions, parameter lists) with their known exceptions listed here, so that a new one
is a decision, not a drift."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMON = ROOT / "common"

MODULE_LINES = 400  # above this a module says why in its docstring ("Size: ...")
FUNCTION_LINES = 60
PARAMETERS = 7  # not counting self/cls
# Known exceptions to the function guides, (module, function): each says what should shrink next. A fixed one
# must leave this list (test_the_exceptions_are_still_needed), so the list only ever gets shorter.
LONG_FUNCTIONS = {("accuracy", "check_against_reference")}
MANY_PARAMETERS = {("accuracy", "check_against_reference"), ("cluster", "run"), ("images", "outputs_to_images"),
                   ("onnx_utils", "export"), ("onnx_utils", "export_verified"),
                   ("reference", "write_reference_outputs"), ("runner", "save_outputs"),
                   ("similarity", "compare_dirs")}


def modules():
    """{module name: [its .py files]}: a flat module is one file, a package all the files below it."""
    found = {}
    for path in sorted(COMMON.glob("*.py")):
        if path.name != "__init__.py":
            found[path.stem] = [path]
    for package in sorted(p for p in COMMON.iterdir() if (p / "__init__.py").is_file()):
        found[package.name] = sorted(package.rglob("*.py"))
    return found


def imported(path):
    """The common/ modules a file imports, at its top or inside a function ('from common import x', 'from
    common.x import y', 'import common.x', importlib.import_module('common.x'))."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "common":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("common."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("common.")}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("common."):
            names.add(node.args[0].value.split(".")[1])
    return names


def import_graph():
    found = modules()
    return {name: sorted(set().union(*(imported(f) for f in files)) - {name}) for name, files in found.items()}


def layer_map(text):
    """{module: layer} from CONTRIBUTING.md's map rows '| 2 graphs | `backends` | ... |'."""
    return {m: int(layer) for layer, m in re.findall(r"^\| (\d+) \w+ \| `(\w+)` \|", text, re.MULTILINE)}


def cycle(graph):
    """One import cycle of `graph` as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in graph:
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def upward(graph, layers):
    """(module, imported module) pairs where a module imports one of a higher layer."""
    return sorted((m, d) for m, deps in graph.items() for d in deps if d in layers and layers[d] > layers[m])


def test_no_import_cycle():
    graph = import_graph()
    assert cycle(graph) is None, f"import cycle: {' -> '.join(cycle(graph))}"


def test_every_module_is_on_the_map_and_imports_only_downward():
    layers = layer_map((ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8"))
    graph = import_graph()
    assert sorted(set(graph) - set(layers)) == [], "modules missing from CONTRIBUTING.md's map of common/"
    assert sorted(set(layers) - set(graph)) == [], "the map names modules that do not exist"
    assert upward(graph, layers) == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    assert cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert cycle({"a": ["b"], "b": []}) is None
    assert upward({"errors": ["cli"], "cli": ["errors"]}, {"errors": 0, "cli": 1}) == [("errors", "cli")]
    assert layer_map("| 0 base | `errors` | x |\n| 3 measures | `report` | y |\n") == {"errors": 0, "report": 3}


def test_the_import_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom common import a, b\n\ndef f():\n    from common.c import x\n"
                      "    import common.d\n    importlib.import_module('common.e')\n")
    assert imported(source) == {"a", "b", "c", "d", "e"}


def functions(files):
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + bool(args.vararg) + \
                    bool(args.kwarg) - bool(args.args and args.args[0].arg in ("self", "cls"))
                yield node.name, node.end_lineno - node.lineno + 1, count


def measured():
    long, many = set(), set()
    for name, files in modules().items():
        for function, lines, count in functions(files):
            if lines > FUNCTION_LINES:
                long.add((name, function))
            if count > PARAMETERS:
                many.add((name, function))
    return long, many


def test_functions_are_short_and_take_few_parameters():
    long, many = measured()
    assert sorted(long - LONG_FUNCTIONS) == [], f"functions over {FUNCTION_LINES} lines"
    assert sorted(many - MANY_PARAMETERS) == [], f"functions with more than {PARAMETERS} parameters"


def test_the_exceptions_are_still_needed():
    long, many = measured()
    assert sorted(LONG_FUNCTIONS - long) == [] and sorted(MANY_PARAMETERS - many) == [], \
        "fixed: remove them from the exceptions above"


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_long_module_says_why(name):
    for path in modules()[name]:
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MODULE_LINES:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            assert "Size:" in docstring, f"{path.relative_to(ROOT)}: over {MODULE_LINES} lines without a 'Size:' reason"
