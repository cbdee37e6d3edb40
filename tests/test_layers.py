"""The package's layers (docs/architecture.md): imports point down only. An AST check of every module's imports.

- networks, losses and metrics import nothing from io, data, engines, inferers, workflows or cli;
- io imports nothing above it (only errors, utils and itself);
- inferers and workflows never import engines (inference does not depend on training);
- modelio (model I/O beneath both) imports neither engines nor workflows;
- rating (expert rating studies) uses only io, metrics and utils: no model, training or translation code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "medtranslate"

#: package -> the medtranslate packages it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "networks": {"io", "data", "engines", "inferers", "workflows", "cli", "modelio"},
    "losses": {"io", "data", "engines", "inferers", "workflows", "cli", "modelio"},
    "metrics": {"io", "data", "engines", "inferers", "workflows", "cli", "modelio", "transforms"},
    "io": {"data", "engines", "inferers", "workflows", "cli", "modelio", "networks", "losses", "metrics", "transforms"},
    "utils": {"io", "data", "engines", "inferers", "workflows", "cli", "modelio", "networks", "losses", "metrics"},
    "modelio": {"engines", "workflows", "cli", "inferers", "data"},
    "inferers": {"engines", "workflows", "cli"},
    "workflows": {"engines", "cli"},
    "transforms": {"engines", "inferers", "workflows", "cli"},
    "data": {"engines", "inferers", "workflows", "cli"},
    "rating": {"engines", "inferers", "workflows", "cli", "modelio", "networks", "losses", "transforms", "data"},
}


def _imported(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in a file, relative imports resolved, function-local ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            out += [(node.lineno, base)] + [
                (node.lineno, f"{base}.{a.name}") for a in node.names if base == "medtranslate"
            ]
    return out


def _violations(layer: str) -> list[str]:
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in _imported(path):
            parts = module.split(".")
            if parts[0] == "medtranslate" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer):
    assert _violations(layer) == []


def test_the_check_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself: a module of networks importing engines (absolute or relative) is reported."""
    fake = tmp_path / "medtranslate"
    (fake / "networks").mkdir(parents=True)
    (fake / "networks" / "bad.py").write_text(
        "from medtranslate.engines import CycleGANTrainer\nfrom ..io import load_image\n\n"
        "def f():\n    import medtranslate.workflows\n"
    )
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    assert len(_violations("networks")) == 3


#: The function-local imports that must stay (docs/architecture.md, "Import weight"), file -> count; everything else
#: imports at module level. Each keeps torch or MONAI out of a light path and says why in a comment at the import.
FUNCTION_LOCAL_IMPORTS: dict[str, int] = {
    "io/nifti.py": 1,  # MONAI's NibabelReader: the module also writes NIfTI for torch-free DICOM conversions
    "io/raster.py": 1,  # MONAI's PILReader: DICOM conversions import the module (display integers)
    "io/validate.py": 2,  # torch + MetaTensor: ArrayImage is the NumPy path of DICOM conversions
    "utils/distributed.py": 1,  # torch.distributed, only under torchrun: io.batch imports the module
}


def _function_local_imports(root: Path) -> dict[str, int]:
    """file (relative to ``root``) -> number of import statements inside function bodies."""
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        n = len(
            {
                id(node)  # once each, also inside nested functions
                for func in ast.walk(tree)
                if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
                for node in ast.walk(func)
                if isinstance(node, (ast.Import, ast.ImportFrom))
            }
        )
        if n:
            found[path.relative_to(root).as_posix()] = n
    return found


def test_function_local_imports_are_only_the_listed_exceptions():
    """Imports are at module level; the light entry points stay light by layering (lazy ``"module:function"`` names)."""
    assert _function_local_imports(PACKAGE) == FUNCTION_LOCAL_IMPORTS


def test_the_count_sees_a_function_local_import(tmp_path):
    (tmp_path / "m.py").write_text(
        "import os\n\ndef f():\n    import json\n    def g():\n        from pathlib import Path\n\nclass C:\n"
        "    async def h(self):\n        import sys\n"
    )
    assert _function_local_imports(tmp_path) == {"m.py": 3}
