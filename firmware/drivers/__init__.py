"""Drivers for the parts on a real Platewise board, one module per part.

Every driver is handed its hardware (an I2C bus, a Pin, an ADC object) and
never imports ``machine``: only firmware/boards/rp2.py and esp32.py build
those objects. So every driver runs under the unix port against fakes that
stand at the hardware boundary (I2C registers, ADC codes, pin levels).

Failure conventions shared by all drivers:
- construction checks the part (ID registers, a read-back) and raises
  ``RuntimeError`` naming the part and its address when it is absent or
  wrong; bad parameters raise ``ValueError`` naming the parameter;
- a read that fails at run time returns NaN and sets the driver's
  ``fault`` attribute (a short string, None while healthy); the safety
  supervisor treats a non-finite reading as a sensor fault.
"""
