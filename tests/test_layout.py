"""The test of a module is found from its path (tests/__init__.py): every
``tests/<package>/test_<module>[_<aspect>].py`` names an existing ``<package>/<module>``, and
no cocotb testbench can be mistaken for a pytest file."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: test directory → the directory whose modules it tests
TESTED = {"hw": "hw", "golden": "golden", "sim": "sim", "tb": "tb", "examples": "examples",
          "constraints": "constraints"}
#: test directories that hold no tests of a module
OTHER = {"helpers", "data", "__pycache__"}


def _modules(package: str) -> set[str]:
    """Module names of ``package`` (``.py`` and ``.sv``), a leading underscore dropped."""
    return {p.stem.lstrip("_") for p in (ROOT / package).iterdir()
            if p.suffix in (".py", ".sv") and p.stem != "__init__"}


def _module_of(test_name: str, modules: set[str]) -> str | None:
    """The module ``test_<module>[_<aspect>]`` tests: the longest matching module name."""
    name = test_name.removeprefix("test_")
    hits = [m for m in modules if name == m or name.startswith(m + "_")]
    return max(hits, key=len) if hits else None


def test_every_test_file_names_its_module():
    bad = []
    for path in sorted(ROOT.glob("tests/*/test_*.py")):
        package = path.parent.name
        if package not in TESTED:
            bad.append(f"{path.relative_to(ROOT)}: tests/{package}/ is not a package's tests")
        elif _module_of(path.stem, _modules(TESTED[package])) is None:
            bad.append(f"{path.relative_to(ROOT)}: no module {TESTED[package]}/"
                       f"{path.stem.removeprefix('test_')}[.py|.sv] (or a prefix of it)")
    assert not bad, bad


def test_test_directories_are_known_packages():
    dirs = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir()}
    assert dirs <= set(TESTED) | OTHER, dirs - set(TESTED) - OTHER
    for name in TESTED:
        assert (ROOT / "tests" / name / "__init__.py").is_file(), name


def test_no_pytest_lookalikes_outside_the_test_packages():
    """cocotb modules are ``cocotb_*.py``; helpers hold no ``test_*.py``."""
    lookalikes = sorted(str(p.relative_to(ROOT)) for p in
                        [*ROOT.glob("tb/**/test_*.py"), *ROOT.glob("tests/helpers/**/test_*.py")])
    assert not lookalikes, lookalikes


def test_the_layout_check_can_fail():
    modules = {"mac_array", "generate", "util"}
    assert _module_of("test_mac_array", modules) == "mac_array"
    assert _module_of("test_generate_lint", modules) == "generate"
    assert _module_of("test_hw_mac_array", modules) is None
    assert _module_of("test_utility", modules) is None
