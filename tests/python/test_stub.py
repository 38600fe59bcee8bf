"""The .pyi stub editors read covers the engine's public names (regenerate it with
python/tools/make_stub.sh when a binding is added)."""
import ast
import os

import tapegrad as tg
from tapegrad import _C

STUB = os.path.join(os.path.dirname(tg.__file__), "_C.pyi")


def stub_tree():
    assert os.path.exists(STUB), "the installed package has no _C.pyi"
    with open(STUB) as f:
        return ast.parse(f.read())


def defined(body):
    names = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_stub_names_every_public_function_and_method():
    tree = stub_tree()
    top = defined(tree.body)
    missing = sorted(n for n in dir(_C) if not n.startswith("_") and n not in top)
    assert not missing, f"_C.pyi lacks {missing}: run python/tools/make_stub.sh"
    tensor = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    methods = defined(tensor.body)
    missing = sorted(n for n in dir(tg.Tensor) if not n.startswith("_") and n not in methods)
    assert not missing, f"_C.pyi's Tensor lacks {missing}: run python/tools/make_stub.sh"


def test_package_is_marked_typed():
    assert os.path.exists(os.path.join(os.path.dirname(tg.__file__), "py.typed"))
