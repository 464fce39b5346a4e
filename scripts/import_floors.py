"""Import Linter contract types for Sagittal's floors (see docs/architecture.md).

``floors``: every module sits on the floor of its top-level package (``layers``, highest first;
``a | b`` puts independent packages on one floor), except the Django-free ``cores``, which sit
under everything wherever they live on disk. A module may import its own package, the packages
of lower floors and any core; a core imports only cores. Import Linter's built-in ``layers``
contract cannot say "cores first, wherever they are", hence this one.

``acyclic_modules``: no cycle between modules at all, function-level imports included (Import
Linter's ``acyclic_siblings`` only sees cycles between siblings of one package).

``no_private_names``: no module imports another module's ``_private`` names.

All three are registered in ``.importlinter`` and run by ``make lint`` (``lint-imports``).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output

Import = tuple[str, str]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _line_numbers(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"l.{d['line_number']}" for d in details) or "?"


class FloorsContract(Contract):
    type_name = "floors"

    layers = fields.ListField(subfield=fields.StringField())
    cores = fields.ListField(subfield=fields.StringField())

    def _floor_of(self) -> dict[str, int]:
        floors: dict[str, int] = {}
        layers: list[str] = self.layers  # type: ignore[assignment]
        for height, layer in enumerate(reversed(layers), start=1):
            for package in layer.split("|"):
                floors[package.strip()] = height
        return floors

    def _is_core(self, module: str) -> bool:
        return any(_within(module, core) for core in self.cores)  # type: ignore[attr-defined]

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        floors = self._floor_of()
        broken: list[tuple[str, str, str]] = []
        for importer in sorted(graph.modules):
            top = importer.split(".")[0]
            if top not in floors:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_top = imported.split(".")[0]
                if imported_top not in floors:
                    continue  # a third-party package
                reason = self._refusal(importer, imported, floors)
                if reason:
                    broken.append((importer, imported, reason))
        return ContractCheck(kept=not broken, metadata={"broken": broken, "graph": graph})

    def _refusal(self, importer: str, imported: str, floors: dict[str, int]) -> str:
        if self._is_core(importer):
            return "" if self._is_core(imported) else "a core imports only cores"
        if self._is_core(imported):
            return ""
        top, imported_top = importer.split(".")[0], imported.split(".")[0]
        if top == imported_top or floors[imported_top] < floors[top]:
            return ""
        if floors[imported_top] == floors[top]:
            return f"{top} and {imported_top} are independent (one floor)"
        return f"{imported_top} is on a higher floor than {top}"

    def render_broken_contract(self, check: ContractCheck) -> None:
        graph = check.metadata["graph"]
        for importer, imported, reason in check.metadata["broken"]:
            lines = _line_numbers(graph, importer, imported)
            output.print_error(f"{importer} -> {imported} ({lines}): {reason}")
        output.new_line()


def _strongly_connected(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative (import chains are deeper than Python's recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield sorted(component)


def _cycle_edges(members: Iterable[str], graph: dict[str, set[str]]) -> list[Import]:
    inside = set(members)
    return [(a, b) for a in sorted(inside) for b in sorted(graph[a] & inside)]


class AcyclicModulesContract(Contract):
    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages: list[str] = self.packages  # type: ignore[assignment]
        ours = {m for m in graph.modules if any(_within(m, p) for p in packages)}
        edges = {m: set(graph.find_modules_directly_imported_by(m)) & ours for m in ours}
        for module in edges:
            edges[module].discard(module)
        cycles = [_cycle_edges(members, edges) for members in _strongly_connected(edges)]
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles, "graph": graph})

    def render_broken_contract(self, check: ContractCheck) -> None:
        graph = check.metadata["graph"]
        for cycle in check.metadata["cycles"]:
            modules = sorted({m for edge in cycle for m in edge})
            output.print_error(f"Cycle between {len(modules)} modules:")
            for importer, imported in cycle:
                lines = _line_numbers(graph, importer, imported)
                output.print_error(f"  {importer} -> {imported} ({lines})", bold=False)
            output.new_line()


def _source_file(module: str) -> Path | None:
    """The file of ``module``, found without importing anything (packages import Django)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # a top-level name: located, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _private_name_imports(module: str, path: str, modules: set[str]) -> Iterator[tuple[int, str]]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source.split(".")[0] not in {m.split(".")[0] for m in modules}:
            continue  # a third-party module's private names are its own business
        for alias in node.names:
            name = alias.name
            private = name.startswith("_") and not name.startswith("__")
            if private and f"{source}.{name}" not in modules:  # a private module is allowed
                yield node.lineno, f"{source}.{name}"


class NoPrivateNamesContract(Contract):
    """No module imports another module's ``_private`` names: what a module shares it names
    without an underscore, so a reader knows what else depends on it."""

    type_name = "no_private_names"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        packages: list[str] = self.packages  # type: ignore[assignment]
        ours = {m for m in graph.modules if any(_within(m, p) for p in packages)}
        found: list[str] = []
        for module in sorted(ours):
            path = _source_file(module)
            if path is None:
                continue
            for line, name in _private_name_imports(module, str(path), ours):
                found.append(f"{module} (l.{line}) imports {name}")
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line)
        output.new_line()
