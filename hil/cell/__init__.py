"""The emulated anode-less cell (host side, CPython only).

    from platewise.host.presets import load_params, ParamError, PRESETS   # cell presets: shared with the twin
    from platewise.hil.cell.model import Cell
    params = load_params("lfp-liquid")        # or a JSON path; overrides: load_params(name, {"aging_factor": 10})
    cell = Cell(params, seed=0)
    cell.step(dt_s, current_a)                 # > 0 charges (plates Li on Cu), < 0 discharges, 0 rests
    cell.voltage_v, cell.ocv_v, cell.temperature_c, cell.pressure_mpa, cell.resistance_ohm
    cell.inventory_ah, cell.cathode_ah, cell.plated_ah, cell.sei_ah, cell.dead_ah, cell.initial_inventory_ah
    cell.inject("internal_short", resistance_ohm=2000.0)   # faults at any simulated time (model.FAULTS)

    from platewise.hil.cell.sensors import Sensors       # ADC view: offset, gain, noise, quantisation, faults
    from platewise.hil.cell.batch import CellBatch       # the same model for N cells in numpy
    from platewise.hil.cell.cycler import run            # reference CC-CV cycler, life tests
    from platewise.hil.cell.bench import bench           # step rates

Modules: model (scalar cell), sensors, batch, cycler, bench, cli
(``platewise cell ...``). The presets (schema, loader and the JSON files,
every value with its unit and its cell-physics source) are in host/presets/:
the twin's filters need the same cell as the emulator.
"""
