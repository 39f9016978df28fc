"""The mutation harness's list cannot rot: every planted bug's old text still occurs exactly once in its
file, and every test it names exists. (The harness itself, tools/mutate.py, is run by hand: it plants each
bug in a temporary copy and runs its tests — minutes, not part of the suite.)"""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_harness():
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mutant_still_applies_and_names_existing_tests():
    mutate = load_harness()
    assert len(mutate.MUTANTS) >= 20
    assert len({m.name for m in mutate.MUTANTS}) == len(mutate.MUTANTS)
    assert all(m.old != m.new and m.tests for m in mutate.MUTANTS)
    assert mutate.check_list(root=str(ROOT)) == []
    for m in mutate.MUTANTS:                   # the docstring lists what it plants
        assert m.name in mutate.__doc__, m.name


def test_the_staleness_check_can_fail(tmp_path):
    mutate = load_harness()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "m.py").write_text("a = 1\na = 1\n")
    bad = [mutate.Mutant("twice", "m.py", "a = 1", "a = 2", ["tests/test_x.py::test_a"]),
           mutate.Mutant("gone", "m.py", "b = 1", "b = 2", ["tests/test_x.py"]),
           mutate.Mutant("no-test", "m.py", "a = 1\na", "a = 2\na", ["tests/test_x.py::test_b", "tests/test_y.py"])]
    problems = mutate.check_list(bad, root=str(tmp_path))
    assert len(problems) == 4, problems
    assert "occurs 2 times in m.py" in problems[0] and "occurs 0 times" in problems[1]
    assert "no test test_b in tests/test_x.py" in problems[2] and "no test file tests/test_y.py" in problems[3]
