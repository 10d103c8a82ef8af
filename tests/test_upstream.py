"""common/upstream.py: the checkout refusals, importing from a checkout without leaving it behind, the stand-in
for an upstream class that cannot be built, and the one verdict."""
import sys
import types

import pytest

from common import upstream
from common.errors import CheckFailed, UserError

CHECKOUT = upstream.Checkout("toy-upstream", patched="models/networks.py", marker="# patched", patch="toy.patch",
                             files=("models/base_model.py",))


def _checkout(root, value, patched=True):
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "networks.py").write_text(f"VALUE = {value!r}\n" + ("# patched\n" if patched else ""))
    (root / "models" / "base_model.py").write_text("from . import networks\nVALUE = networks.VALUE\n")
    return root


def test_checkout_refusals(tmp_path):
    with pytest.raises(UserError, match=r"not a toy-upstream checkout \(no models/networks\.py, "
                                        r"models/base_model\.py\); --upstream must be a checkout"):
        CHECKOUT.root(tmp_path)
    _checkout(tmp_path / "plain", "a", patched=False)
    with pytest.raises(UserError, match=r"networks\.py: not patched \(no '# patched'\); run `git apply toy\.patch`"):
        CHECKOUT.modules(tmp_path / "plain", ["models.networks"])  # refused before any import
    assert "models" not in sys.modules


def test_modules_come_from_each_checkout_and_are_forgotten(tmp_path, monkeypatch):
    ours = types.ModuleType("models")  # a package of the same name imported before: set aside, then restored
    monkeypatch.setitem(sys.modules, "models", ours)
    path = list(sys.path)
    for value in ("first", "second"):
        root = _checkout(tmp_path / value, value)
        with CHECKOUT.modules(root, ["models.networks", "models.base_model"]) as (networks, base_model):
            assert networks.VALUE == base_model.VALUE == value
            assert networks.__file__ == str(root.resolve() / "models" / "networks.py")
        assert sys.modules["models"] is ours and "models.networks" not in sys.modules
        assert sys.path == path
    (tmp_path / "first" / "models" / "networks.py").write_text("import a_module_that_is_not_installed\n# patched\n")
    with pytest.raises(UserError, match=r"importing upstream's models\.networks failed \(ModuleNotFoundError: "):
        with CHECKOUT.modules(tmp_path / "first", ["models.networks"]):
            pass
    assert sys.modules["models"] is ours and sys.path == path


def test_call_on_stand_in_binds_the_private_methods():
    class BaseModel:
        def __init__(self, opt):
            raise RuntimeError("needs the training options")

        def __scale(self, x):
            return x * self.factor

        def load(self, x):
            return self.__scale(x) + 1

    result, stand_in = upstream.call_on_stand_in(BaseModel, "load", {"factor": 3}, 2)
    assert result == 7 and stand_in.factor == 3


def test_verdict(capsys):
    assert upstream.verdict({"a": 0.0, "b": 1e-6}, 1e-5, "PASS: both") == 1e-6
    assert capsys.readouterr().out == "PASS: both\n"
    with pytest.raises(CheckFailed, match=r"^outputs differ from upstream by 0\.5 \(max abs\), tolerance 1e-05; "
                                          r"1 of 2: b$"):
        upstream.verdict({"a": 0.0, "b": 0.5}, 1e-5, "PASS")
    with pytest.raises(CheckFailed, match=r"^outputs differ from upstream by nan \(max abs\), tolerance 1e-05$"):
        upstream.verdict({"a": float("nan")}, 1e-5)
    assert capsys.readouterr().out == ""
