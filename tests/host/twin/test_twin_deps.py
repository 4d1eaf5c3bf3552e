"""Dependency direction of host/twin: it imports shared (and third-party
libraries), never firmware or hil; paho-mqtt only in host/twin/mqtt.py."""

import ast
import pathlib

TWIN = pathlib.Path(__file__).resolve().parents[3] / "host" / "twin"


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_twin_never_imports_firmware_or_hil_and_keeps_paho_in_one_module():
    files = sorted(TWIN.glob("*.py"))
    assert {f.name for f in files} >= {"store.py", "filters.py", "service.py", "mqtt.py"}
    for f in files:
        tops = {n.split(".")[0] for n in _imports(f)}
        assert not tops & {"firmware", "hil"}, f.name
        if f.name != "mqtt.py":
            assert "paho" not in tops, f.name + " uses paho; keep it in mqtt.py"
    assert "paho" in {n.split(".")[0] for n in _imports(TWIN / "mqtt.py")}
