"""Checks that imports point down the layers written in .importlinter: exit 0, or 1 naming each import that breaks them.

    python scripts/check_layers.py [PROJECT_DIR]

Two checks, one list of layers (the `layers` contract in .importlinter):
- import-linter (grimp underneath) over the packages; the root modules enter its graph as external modules, so an
  upward import of one from a package (runtime -> modeling) is caught there;
- the root modules' own imports (data.py -> training), which import-linter cannot read: it takes packages only.
  Every project import of a root module, at any depth in it, must name a lower layer.
"""
import ast
import configparser
import os
import subprocess
import sys

CONTRACT = "importlinter:contract:layers"


def layers(project):
    """[[names of one layer], ...], top first, as the contract lists them ('a | b' is one layer; '(a)' optional)."""
    config = configparser.ConfigParser()
    config.read(os.path.join(project, ".importlinter"))
    lines = [x.strip() for x in config[CONTRACT]["layers"].splitlines() if x.strip()]
    return [[name.strip().strip("()") for name in line.split("|")] for line in lines]


def imported_names(path):
    """(line, top-level name) of every import in a file, module level or inside functions."""
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def root_module_violations(project):
    """'FILE:LINE: a imports b (same or higher layer)' for each root module's import that does not point down."""
    order = layers(project)
    level = {name: i for i, layer in enumerate(order) for name in layer}
    out = []
    for name, i in level.items():
        path = os.path.join(project, name + ".py")
        if not os.path.isfile(path):
            continue  # a package: import-linter's part
        for line, target in imported_names(path):
            if target in level and target != name and level[target] <= i:
                out.append(f"{name}.py:{line}: {name} imports {target}, which is not in a lower layer")
    return out


def main():
    project = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    linter = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                             "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                            cwd=project, env={**os.environ, "PYTHONPATH": project}, capture_output=True, text=True)
    problems = root_module_violations(project)
    if linter.returncode != 0:
        print(linter.stdout + linter.stderr)
    for p in problems:
        print(p)
    ok = linter.returncode == 0 and not problems
    print("layers: imports point down" if ok else "layers: BROKEN")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
