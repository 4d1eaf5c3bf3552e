"""Contactor (or MOSFET switch) output on one GPIO, active level from config.

Safe by default: construction drives the pin to the OPEN level first. The
board builds the Pin with that level already as its initial value, so the
output never glitches closed at boot; ``active_high`` is what the driver
stage needs (a low-side N-MOSFET gate: True; an active-low relay module:
False). Fit a pull resistor to the open level too: while the MCU is in
reset every GPIO floats, and only the resistor holds the contactor open.

Failure behaviour: none to report; a GPIO write cannot fail.
"""


class Contactor:
    def __init__(self, pin, active_high=True):
        self._pin = pin
        self._on = 1 if active_high else 0
        self.closed = False
        pin.value(1 - self._on)

    @staticmethod
    def open_level(active_high):
        """The pin level that means open (for building the Pin with it)."""
        return 0 if active_high else 1

    def set(self, closed):
        self._pin.value(self._on if closed else 1 - self._on)
        self.closed = bool(closed)
