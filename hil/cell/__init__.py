"""The emulated anode-less cell (host side, CPython only).

    from hil.cell.model import Cell, load_params, ParamError, PRESETS
    params = load_params("lfp-liquid")        # or a JSON path; overrides: load_params(name, {"aging_factor": 10})
    cell = Cell(params, seed=0)
    cell.step(dt_s, current_a)                 # > 0 charges (plates Li on Cu), < 0 discharges, 0 rests
    cell.voltage_v, cell.ocv_v, cell.temperature_c, cell.pressure_mpa, cell.resistance_ohm
    cell.inventory_ah, cell.cathode_ah, cell.plated_ah, cell.sei_ah, cell.dead_ah, cell.initial_inventory_ah
    cell.inject("internal_short", resistance_ohm=2000.0)   # faults at any simulated time (model.FAULTS)

    from hil.cell.sensors import Sensors       # ADC view: offset, gain, noise, quantisation, faults
    from hil.cell.batch import CellBatch       # the same model for N cells in numpy
    from hil.cell.cycler import run            # reference CC-CV cycler, life tests
    from hil.cell.bench import bench           # step rates

Modules: params (schema, loader), model (scalar cell), sensors, batch,
cycler, bench, cli (``platewise cell ...``). Presets live in presets/*.json,
every value with its unit and its cell-physics source.
"""
