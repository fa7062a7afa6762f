"""Custom import-linter contract: a module imports another module only through its package.

``smartprovince.procedures.service`` may write ``from smartprovince.identity import get_org`` (the
identity package's ``__init__``, its public interface) but not ``from smartprovince.identity.models
import User``. The kernel (``smartprovince.core``) and the package's top-level modules
(``settings``) are open to everybody; the composition roots (``app``, ``cli``, ``registry``,
``migrations``) wire modules together and may import anything. New modules are covered
automatically: there is no list to keep up to date.

Used by ``lint-imports`` (see ``[tool.importlinter]`` in ``pyproject.toml``; the tool puts the
repository folder on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output


class ModuleBoundaryContract(Contract):
    """Imports across modules go to the other module's package, never inside it.

    Options: ``root`` (the root package), ``open_packages`` (children anybody may import deeply,
    e.g. ``core``), ``composition_roots`` (children that may import anything).
    """

    type_name = "module_boundaries"

    root = fields.StringField()
    open_packages = fields.ListField(subfield=fields.StringField(), required=False)
    composition_roots = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        root: str = self.root  # type: ignore[assignment]
        open_packages: set[str] = set(self.open_packages or [])  # type: ignore[arg-type,call-overload]
        roots: set[str] = set(self.composition_roots or [])  # type: ignore[arg-type,call-overload]
        depth = root.count(".") + 1
        broken: list[dict[str, Any]] = []

        def top(name: str) -> str | None:
            parts = name.split(".")
            if len(parts) <= depth or ".".join(parts[:depth]) != root:
                return None
            return parts[depth]

        for importer in sorted(graph.modules):
            importer_top = top(importer)
            if importer_top is None or importer_top in roots:
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                imported_top = top(imported)
                if imported_top is None or imported_top == importer_top or imported_top in open_packages:
                    continue
                if imported.count(".") <= depth:
                    continue  # the other module's package itself (its public interface)
                details = graph.get_import_details(importer=importer, imported=imported)
                broken.append(
                    {"importer": importer, "imported": imported, "lines": [d["line_number"] for d in details]}
                )
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            lines = ", ".join(str(n) for n in item["lines"])
            output.print_error(f"- {item['importer']} -> {item['imported']} (l.{lines})", bold=False)
            output.new_line()
        output.print_error(
            "Import the other module's package instead (its __init__ is the public interface), "
            "or react to its events.",
            bold=False,
        )
