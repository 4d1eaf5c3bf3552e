"""``/metrics``: the fleet in Prometheus' text format, for labs that already
run Prometheus and Grafana (through the ``prometheus_client`` library).

Per cell (label ``cell``): inventory % of initial, predicted EOL cycle and
its 90 % interval, short risk, resistance drift %, active alarms by
severity, online (1/0; absent while unknown), last seen (Unix seconds) and
stored messages. Values are read from the fleet rows (liveapi.fleet) at
scrape time; a figure the twin does not have yet is left out, not 0.

Failure behaviour: none of its own: a database error reaches the server,
which answers 503.
"""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# (metric name, help, fleet-row key)
GAUGES = (
    ("platewise_cell_inventory_percent", "Lithium inventory as % of the initial", "inventory_pct"),
    ("platewise_cell_eol_cycle", "Predicted end-of-life cycle", "eol_cycle_pred"),
    ("platewise_cell_eol_cycle_low", "Lower end of the EOL cycle's 90 % interval", "eol_cycle_lo"),
    ("platewise_cell_eol_cycle_high", "Upper end of the EOL cycle's 90 % interval", "eol_cycle_hi"),
    ("platewise_cell_short_risk", "Internal-short risk, 0..1", "short_risk"),
    ("platewise_cell_resistance_drift_percent", "Resistance at 25 C relative to the cell's first, %", "r_drift_pct"),
    ("platewise_cell_last_seen_seconds", "When the twin last stored a live message of the cell (Unix time)", "last_seen_s"),
)
SEVERITIES = ("info", "warning", "critical")


class _Fleet:
    def __init__(self, rows):
        self.rows = rows

    def collect(self):
        for name, doc, key in GAUGES:
            g = GaugeMetricFamily(name, doc, labels=["cell"])
            for r in self.rows:
                if r[key] is not None:
                    g.add_metric([r["cell_id"]], float(r[key]))
            yield g
        online = GaugeMetricFamily("platewise_cell_online", "1 online, 0 offline (retained status and last will)", labels=["cell"])
        alarms = GaugeMetricFamily("platewise_cell_alarms_active", "Active alarms by severity", labels=["cell", "severity"])
        messages = CounterMetricFamily("platewise_cell_messages", "Messages stored for the cell", labels=["cell"])
        for r in self.rows:
            if r["online"] is not None:
                online.add_metric([r["cell_id"]], 1.0 if r["online"] else 0.0)
            for sev in SEVERITIES:
                alarms.add_metric([r["cell_id"], sev], float(sum(1 for a in r["alarms"].values() if a["severity"] == sev)))
            messages.add_metric([r["cell_id"]], float(r["messages"]))
        yield online
        yield alarms
        yield messages


def render(fleet_rows):
    """The text exposition of these fleet rows."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fleet(fleet_rows))
    return generate_latest(registry)
