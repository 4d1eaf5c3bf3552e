"""Self-check of shared.keyfile, run under the MicroPython unix port by
tests/shared/test_runs_on_micropython.py (kept out of the module so that it
costs the board no heap)."""

from shared.keyfile import load_key


def run():
    class _File:
        def __init__(self, text):
            self.text = text

        def read(self, n=-1):
            return self.text

        def close(self):
            pass

    def opener(text):
        return lambda path, mode: _File(text)

    key, why = load_key("s.json", opener('{"cmd_key_hex": "' + "ab" * 32 + '"}'))
    assert why is None and key == b"\xab" * 32
    assert load_key("s.json", opener('{"cmd_key_hex": "abc"}')) == (None, "s.json: cmd_key_hex is not hex")
    assert load_key("s.json", opener('{"cmd_key_hex": "ab"}'))[1] == "s.json: key must be 32..64 bytes"
    assert load_key("s.json", opener("{"))[1] == "s.json: not JSON"
    assert load_key("/nonexistent/s.json")[1] == "no secrets file /nonexistent/s.json"
    return True
