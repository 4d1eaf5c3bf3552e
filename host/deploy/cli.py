"""The deployment commands, for the ``platewise`` CLI (platewise/cli.py wires them in):

  platewise provision CELL_ID... --out DIR [--rotate|--promote]  host/deploy/provision.py
  platewise broker config --from DIR --port N --out OUT ...  host/deploy/brokerconf.py
  platewise deploy units --out DIR ...                       host/deploy/units.py
  platewise deploy token OPERATOR --file FILE                host/twin/access.py

Failure behaviour: a bad argument or file prints one line naming it on
stderr and returns exit code 2; nothing prints a traceback for a user error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _err(prog: str, msg: str) -> int:
    print(f"platewise {prog}: {msg}", file=sys.stderr)
    return 2


def cmd_provision(args) -> int:
    from platewise.host.deploy.keyring import KeyringError
    from platewise.host.deploy.provision import ProvisionError, promote, provision, read_json

    try:
        if args.promote:
            promote(args.cells, args.out)
            for c in args.cells:
                print(f"promoted {c}")
            return 0
        base = read_json(Path(args.base_config)) if args.base_config else None
        port = args.broker_port or (8883 if args.tls_ca_der else 1883)
        done = provision(args.cells, args.out, args.rotate, base, args.broker_host, port, args.tls_ca_der)
    except (ProvisionError, KeyringError) as e:
        return _err("provision", str(e))
    for what in ("added", "kept", "rotated"):
        for c in done[what]:
            print(f"{what} {c}")
    if done["rotated"]:
        print("next: platewise cmd CELL set_cmd_key --keyring " + args.out + "/host/keyring.json, then reload the broker")
    return 0


def cmd_broker_config(args) -> int:
    from platewise.host.deploy.brokerconf import write_config
    from platewise.host.deploy.provision import ProvisionError

    try:
        path = write_config(
            args.src, args.out, args.port, args.tls_cert, args.tls_key, args.ca, args.tls_port, args.bind, args.run_as, args.data_dir
        )
    except ProvisionError as e:
        return _err("broker config", str(e))
    print(path)
    return 0


def cmd_units(args) -> int:
    from platewise.host.deploy.units import UnitError, write_units

    try:
        for path in write_units(args.out, vars(args)):
            print(path)
    except UnitError as e:
        return _err("deploy units", str(e))
    return 0


def cmd_token(args) -> int:
    from platewise.host.twin.access import AccessError, add_token

    try:
        token = add_token(args.file, args.operator)
    except AccessError as e:
        return _err("deploy token", str(e))
    # Shown once: the file keeps only its hash.
    print(json.dumps({"operator": args.operator, "token": token}))
    return 0


# platewise deploy units: (option, default, what it is)
_UNIT_OPTIONS = (
    ("--lab", "/etc/platewise", "the provisioned folder on the host"),
    ("--db", "/var/lib/platewise/twin.db", "the twin's database"),
    ("--log-dir", "/var/log/platewise", "the twin's and the dashboard's rotating logs go here"),
    ("--broker", "mqtt://127.0.0.1:1883", "the broker's plain loopback listener"),
    ("--api-host", "127.0.0.1", "address the dashboard/API binds (not loopback: a token file is required)"),
    ("--token-file", None, "hashed API tokens (platewise deploy token)"),
    ("--user", "platewise", "the services' system user"),
    ("--exe", None, "the platewise executable (default: this one)"),
)


def add_deploy_commands(sub) -> None:
    p = sub.add_parser("provision", help="make every board's credentials, config and secrets, and the host's keyring")
    p.add_argument("cells", nargs="+", metavar="CELL_ID")
    p.add_argument("--out", required=True, help="the deployment folder (boards/, host/, broker/)")
    p.add_argument("--rotate", action="store_true", help="new command key and MQTT password for the named cells")
    p.add_argument("--promote", action="store_true", help="the boards took their pending rotation but the answer was lost: make it current in the keyring")
    p.add_argument("--base-config", default=None, help="JSON config shared by the boards (charge limits, ...)")
    p.add_argument("--broker-host", default="127.0.0.1", help="the broker as the boards reach it")
    p.add_argument("--broker-port", type=int, default=None, help="the broker's port for the boards (default 8883 with TLS, else 1883)")
    p.add_argument("--tls-ca-der", default=None, help="the CA (DER) the boards verify the broker with; sets mqtt_tls")
    p.set_defaults(handler=cmd_provision)

    b = sub.add_parser("broker", help="the MQTT broker's configuration")
    bsub = b.add_subparsers(dest="broker_command", required=True)
    c = bsub.add_parser("config", help="mosquitto.conf, ACL and password file for a provisioned folder")
    c.add_argument("--from", dest="src", required=True, help="the folder platewise provision wrote")
    c.add_argument("--port", type=int, required=True, help="plain MQTT port, on 127.0.0.1 only")
    c.add_argument("--out", required=True, help="folder for mosquitto.conf, acl, passwd")
    c.add_argument("--tls-cert", default=None, help="the broker's certificate (PEM)")
    c.add_argument("--tls-key", default=None, help="its private key (PEM)")
    c.add_argument("--ca", default=None, help="the CA certificate (PEM) that signed it")
    c.add_argument("--tls-port", type=int, default=8883)
    c.add_argument("--bind", default=None, help="address of the TLS listener (default: every address)")
    c.add_argument("--run-as", default="mosquitto", help="user Mosquitto drops to when started as root")
    c.add_argument("--data-dir", default=None, help="persistence folder (default: no persistence)")
    c.set_defaults(handler=cmd_broker_config)

    d = sub.add_parser("deploy", help="run the twin and the dashboard as services")
    dsub = d.add_subparsers(dest="deploy_command", required=True)
    u = dsub.add_parser("units", help="systemd unit files for the twin and the dashboard")
    u.add_argument("--out", required=True)
    u.add_argument("--api-port", type=int, default=8080)
    u.add_argument("--dashboard-commands", action="store_true",
                   help="the dashboard sends the cell page's commands (signed with the lab's keyring, through --broker as the twin's user)")
    for flag, default, what in _UNIT_OPTIONS:
        u.add_argument(flag, default=default, help=what)
    u.set_defaults(handler=cmd_units)
    t = dsub.add_parser("token", help="a new API token for an operator (printed once; the file keeps its hash)")
    t.add_argument("operator")
    t.add_argument("--file", required=True)
    t.set_defaults(handler=cmd_token)
