"""Persona loading under random damage: every input is a valid persona or one-line errors
at FILE:LINE:COL with exit status 2 — never a traceback."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from content.errors import PersonaError
from content.persona import Persona, load_persona

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = [yaml.safe_load((REPO / "personas" / name).read_text()) for name in ("mara.yaml", "kai.yaml")]
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PROBLEM_LINE = re.compile(r"^.+:\d+:\d+: .+?: .+$")

Path_ = tuple[str | int, ...]


def paths_in(data: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every place in a persona's tree, sections and leaves alike."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_in(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths_in(value, (*prefix, index))
    return found


def _parent(data: Any, path: Path_) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


ODD_TEXT = [
    "1080x0", "0x0", "0x1350", "1x1", "99999999999999999999x1", "-1080x1350", "99999999999999999999w",
    "0m", "-5m", "1e309h", "mon-fri 25:00-26:00", "mon-fri 09:00-08:00", "xyz 08:00-09:00", "",
    " ", "\u202e\u0000", "Ünïcødé 🦄", "ー" * 300, "{scene}{bogus}", "{", "#", "null", "~", "yes",
    "NaN", ".inf", "Europe/Nowhere", "../../../etc/passwd", "/dev/zero", "loras", "A" * 5000,
]  # fmt: skip
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([0, -1, 1, 2**63, -(2**63), 10**400]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(ODD_TEXT),
        st.text(max_size=40),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def damaged_personas(draw: st.DrawFn) -> str:
    """An example persona with 1–4 random edits, as YAML text (sometimes with a section twice)."""
    data = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        places = paths_in(data)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = _parent(data, path)
        edit = draw(st.sampled_from(["set", "delete", "add_key", "rename_key"]))
        if edit == "set":
            parent[path[-1]] = draw(values)
        elif edit == "delete":
            del parent[path[-1]]
        elif edit == "add_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(values)
        elif edit == "rename_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(path[-1])
    text = yaml.dump(data, Dumper=DUMPER, allow_unicode=draw(st.booleans()), sort_keys=False)
    if isinstance(data, dict) and data and draw(st.booleans()):
        section = draw(st.sampled_from(sorted(map(str, data))))
        text += yaml.dump({section: data.get(section)}, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
    return text


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """A persona folder beside the example assets (LoRAs, LUTs, music), so paths resolve."""
    with tempfile.TemporaryDirectory() as made:
        base = Path(made)
        for asset in ("loras", "luts", "music", "upscalers"):
            (base / asset).symlink_to(REPO / "personas" / asset)
        yield base


def run_check(path: Path) -> tuple[int, str]:
    """`vibot persona check PATH` in this process: its exit status and stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["persona", "check", str(path)])
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
    return code, stderr.getvalue()


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(text=damaged_personas())
def test_a_damaged_persona_is_valid_or_one_line_errors_with_exit_2(folder: Path, text: str) -> None:
    path = folder / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        persona = load_persona(path)
    except PersonaError as err:
        assert err.problems
        for problem in err.problems:
            line = str(problem)
            assert PROBLEM_LINE.match(line) and "\n" not in line, line
            assert line.startswith(f"{path}:") and problem.line >= 1 and problem.column >= 1
        code, stderr = run_check(path)
        assert code == 2 and "Traceback" not in stderr
        assert stderr.splitlines() == [str(p) for p in err.problems]
    else:
        assert isinstance(persona, Persona)
        assert run_check(path)[0] == 0
