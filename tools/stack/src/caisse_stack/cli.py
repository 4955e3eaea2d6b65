"""`caisse-stack`: install, start, stop and inspect the local infrastructure and services of an instance."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from caisse_stack import demo, ensure_up, install, kafka, postgres, services, simulator
from caisse_stack.demo import ensure_demo_data
from caisse_stack.layout import instance
from caisse_stack.lock import instance_lock


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_up(args: argparse.Namespace) -> int:
    inst = instance(args.instance)
    began = time.monotonic()
    ensure_up(inst.name)
    _say(f"kafka       {inst.kafka_bootstrap}  log {kafka.log_file(inst)}")
    _say(f"postgresql  127.0.0.1:{inst.pg_port}  log {postgres.log_file(inst)}")
    if args.services:
        services.start_all(inst)
        for service in services.SERVICES:
            _say(
                f"{service.name:<15} http://127.0.0.1:{service.port(inst)}  log {services.log_file(inst, service.name)}"
            )
        services.start_card_terminal(inst)
        _say(
            f"{services.CARD_TERMINAL:<15} 127.0.0.1:{services.card_terminal_port(inst)} (Caisse-AP simulator)  "
            f"log {services.log_file(inst, services.CARD_TERMINAL)}"
        )
    if args.demo:
        demo.run(inst)
        if args.services:
            # hw-proxy becomes the demo's first till: it fetches its stream token and keeps its config from the notifier
            services.restart(inst, "hw-proxy")
            _say(
                f"      hw-proxy is its till: its config, kept from the notifier, at "
                f"http://127.0.0.1:{services.BY_NAME['hw-proxy'].port(inst)}/v1/config"
            )
    _say(f"{inst.name} up in {time.monotonic() - began:.1f}s")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    inst = instance(args.instance)
    with instance_lock(inst):
        for name in services.stop_all(inst):
            _say(f"stopped {name}")
        if kafka.stop(inst):
            _say("stopped kafka")
        if postgres.stop(inst):
            _say("stopped postgresql")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    inst = instance(args.instance)
    kafka_pid = services.read_pid(kafka.pid_file(inst))
    _say(f"kafka           {inst.kafka_bootstrap:<22} {'pid ' + str(kafka_pid) if kafka_pid else 'stopped'}")
    pg_pid = postgres.pid(inst)
    _say(f"postgresql      127.0.0.1:{inst.pg_port:<12} {'pid ' + str(pg_pid) if pg_pid else 'stopped'}")
    for service in services.SERVICES:
        pid = services.read_pid(services.pid_file(inst, service.name))
        _say(f"{service.name:<15} 127.0.0.1:{service.port(inst):<12} {'pid ' + str(pid) if pid else 'stopped'}")
    pid = services.read_pid(services.pid_file(inst, services.CARD_TERMINAL))
    port = services.card_terminal_port(inst)
    _say(f"{services.CARD_TERMINAL:<15} 127.0.0.1:{port:<12} {'pid ' + str(pid) if pid else 'stopped'}")
    return 0 if kafka_pid and pg_pid else 3  # like an init script: 3 when the infrastructure is not running


def cmd_simulate(args: argparse.Namespace) -> int:
    inst = instance(args.instance)
    demo = ensure_demo_data(inst)
    tills = demo.tills[: args.tills]
    began = time.monotonic()
    runs = asyncio.run(
        simulator.simulate(
            f"http://127.0.0.1:{services.BY_NAME['pos-api'].port(inst)}",
            inst.kafka_bootstrap,
            tills,
            args.tickets,
            demo.cashiers,
        )
    )
    elapsed = time.monotonic() - began
    sold = sum(len(r.latencies_ms) - len(r.failures) for r in runs)
    for run in runs:
        for failure in run.failures[:3]:
            _say(f"{run.till.serial}: {failure}")
    _say(f"{sold} tickets from {len(runs)} tills in {elapsed:.1f}s")
    return 0 if all(not r.failures for r in runs) else 1


def cmd_install(args: argparse.Namespace) -> int:
    install(php_only=args.php_only)
    _say(
        "installed: php-cli is here"
        if args.php_only
        else "installed: PostgreSQL, Java, Maven, php-cli and Kafka's jars are here"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="caisse-stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Kafka and PostgreSQL (and the services) of an instance")
    up.add_argument("--instance", default="dev", choices=["dev", "test"])
    up.add_argument("--services", action="store_true", help="also start the five services")
    up.add_argument("--demo", action="store_true", help="then run a sale through the spine")
    up.set_defaults(run=cmd_up)
    down = sub.add_parser("down", help="stop everything of an instance, by pid")
    down.add_argument("--instance", default="dev", choices=["dev", "test"])
    down.add_argument("--services", action="store_true", help="(services are always stopped first)")
    down.set_defaults(run=cmd_down)
    status = sub.add_parser("status", help="what runs, on which port, with which pid")
    status.add_argument("--instance", default="dev", choices=["dev", "test"])
    status.set_defaults(run=cmd_status)
    simulate = sub.add_parser("simulate", help="N demo tills ring up M tickets each through pos-api")
    simulate.add_argument("--instance", default="dev", choices=["dev", "test"])
    simulate.add_argument("--tills", type=int, default=5)
    simulate.add_argument("--tickets", type=int, default=10)
    simulate.set_defaults(run=cmd_simulate)
    install_cmd = sub.add_parser("install", help="install the missing Debian packages and Kafka's jars")
    install_cmd.add_argument("--php-only", action="store_true", help="only php-cli, for the Paheko plugin's checks")
    install_cmd.set_defaults(run=cmd_install)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except subprocess.CalledProcessError as error:
        _say(f"caisse-stack: {' '.join(map(str, error.cmd))} failed with exit code {error.returncode}")
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
