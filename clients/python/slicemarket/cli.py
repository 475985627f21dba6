"""``slicemarket``: the Slice Market API from a shell. Tables by default, ``--json`` for machines.

URL and token from ``--url``/``--token`` or SLICEMARKET_URL / SLICEMARKET_TOKEN. Exit status: 0 on
success, 1 on an API error (its code and message on stderr), 2 on bad usage, 3 when unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from .client import Client
from .errors import ApiError, TransportError
from .types import Booking, Preview, _Result


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], out: TextIO) -> None:
    """Aligned columns (numbers right-aligned), one line per row."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [bool(cells) and all(_numeric(r[i]) for r in cells if r[i]) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out.write(line(headers) + "\n")
    for r in cells:
        out.write(line(r) + "\n")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(ts: str | None) -> str:
    """2026-12-01T10:00:00Z -> 2026-12-01 10:00:00."""
    return (ts or "").replace("T", " ").replace("Z", "").split(".")[0].split("+")[0]


def _dump(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, sort_keys=False, default=str)
    out.write("\n")


def _booking_table(bookings: Iterable[Booking], out: TextIO) -> None:
    table(
        (
            (
                b.id,
                b.state,
                b.offering_name,
                b.profile_name,
                _short(b.starts_at),
                _short(b.ends_at),
                b.total_price,
                b.currency,
            )
            for b in bookings
        ),
        ("ID", "STATE", "OFFERING", "PROFILE", "STARTS", "ENDS", "PRICE", "CUR"),
        out,
    )


def _show(result: _Result, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        _dump(result.to_dict(), out)
    elif isinstance(result, Preview):
        cost = result.cost or {}
        out.write(
            f"preview (nothing done): charge {cost.get('charge')} {cost.get('currency')}; {cost.get('note', '')}\n"
        )
    elif isinstance(result, Booking):
        _booking_table([result], out)
        if result.cost and result.cost.get("note"):
            out.write(
                f"\n{result.cost.get('action')}: {result.cost.get('charge')} {result.cost.get('currency')}. {result.cost['note']}\n"
            )


# ---- commands ---------------------------------------------------------------------------------


def cmd_search(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {
        "cpu": args.cpu,
        "ram": args.ram,
        "disk": args.disk,
        "start": args.start,
        "end": args.end,
        "duration": args.duration,
        "region": args.region,
        "max_price": args.max_price,
        "currency": args.currency,
        "ordering": args.ordering,
        "limit": min(args.max, 200),
    }
    found = c.search(**params)
    slices = []
    for s in found:
        slices.append(s)
        if len(slices) >= args.max:
            break
    if args.json:
        _dump([s.to_dict() for s in slices], out)
        return 0
    if not slices:
        out.write("No slices found.\n")
        why = c.search_page(**(params | {"limit": 1})).get("explanation") or {}
        for line in (why.get("reason"), why.get("suggestion")):
            if line:
                out.write(f"{line}\n")
        return 0
    table(
        (
            (
                s.id,
                (s.offering or {}).get("name"),
                (s.offering or {}).get("region"),
                (s.profile or {}).get("name"),
                (s.profile or {}).get("vcpus"),
                round(((s.profile or {}).get("ram_mib") or 0) / 1024, 2),
                _short(s.start),
                s.duration,
                s.pricing_model,
                s.total_price,
                s.currency,
            )
            for s in slices
        ),
        ("SLICE", "OFFERING", "REGION", "PROFILE", "CPU", "RAM_GIB", "START", "SECONDS", "MODEL", "PRICE", "CUR"),
        out,
    )
    return 0


def cmd_book(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    result = c.request(
        args.slice_id,
        duration=args.duration,
        bid=args.bid,
        quote=args.quote,
        image=args.image,
        ssh_cidrs=args.ssh_cidr or None,
        idempotency_key=args.idempotency_key,
        preview=args.preview,
    )
    _show(result, args, out)
    return 0


def cmd_quote(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    q = c.quote(args.slice_id, duration=args.duration)
    if args.json:
        _dump(q.to_dict(), out)
    else:
        table(
            [(q.id, q.unit_price, q.total_price, q.currency, _short(q.expires_at))],
            ("QUOTE", "UNIT", "TOTAL", "CUR", "EXPIRES"),
            out,
        )
    return 0


def cmd_bookings(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    items = []
    for b in c.bookings(state=args.state):
        items.append(b)
        if len(items) >= args.max:
            break
    if args.json:
        _dump([b.to_dict() for b in items], out)
    elif not items:
        out.write("No bookings.\n")
    else:
        _booking_table(items, out)
    return 0


def cmd_release(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    _show(c.release(args.booking, preview=args.preview), args, out)
    return 0


def cmd_extend(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    _show(c.extend(args.booking, args.duration, preview=args.preview), args, out)
    return 0


def cmd_usage(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    u = c.usage(args.booking)
    if args.json:
        _dump(u.to_dict(), out)
    else:
        table(
            [
                (
                    u.booking,
                    u.state,
                    _short(u.start),
                    _short(u.end),
                    _short(u.ended_at),
                    u.elapsed_seconds,
                    u.charges_so_far,
                    u.total_price,
                    u.currency,
                )
            ],
            ("BOOKING", "STATE", "START", "END", "ENDED", "ELAPSED_S", "CHARGED", "PRICE", "CUR"),
            out,
        )
    return 0


def cmd_watch(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    """One line per state change (the time it was seen), until the booking ends."""
    last = None
    for u in c.watch(args.booking, interval=args.interval, timeout=args.timeout):
        seen = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if args.json:
            out.write(json.dumps({"time": seen, **u.to_dict()}, default=str) + "\n")
        else:
            detail = (
                f" (notice until {_short(u.preempt_deadline)})" if u.state == "notice" and u.preempt_deadline else ""
            )
            out.write(f"{seen}  booking {u.booking}  {u.state}{detail}\n")
        out.flush()
        last = u
    if last is not None and not last.ended:
        sys.stderr.write(f"slicemarket: stopped watching after {args.timeout} s; booking still {last.state}\n")
        return 4
    return 0


def cmd_standby(c: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.size is not None:
        if args.profile is None:
            sys.stderr.write("slicemarket: --size needs --profile\n")
            return 2
        s = c.set_standby(args.offering, profile=args.profile, size=args.size, image=args.image)
    else:
        s = c.standby(args.offering)
    if args.json:
        _dump(s.to_dict(), out)
    else:
        table(
            (
                (
                    p.get("id"),
                    p.get("profile"),
                    p.get("profile_name", ""),
                    p.get("image", ""),
                    p.get("size"),
                    json.dumps(p.get("servers", p.get("server_counts", {}))),
                )
                for p in s.pools or []
            ),
            ("POOL", "PROFILE", "NAME", "IMAGE", "SIZE", "SERVERS"),
            out,
        )
    return 0


# ---- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="slicemarket", description="The Slice Market API from the command line.")
    p.add_argument("--url", default=os.environ.get("SLICEMARKET_URL"), help="Server URL (env SLICEMARKET_URL)")
    p.add_argument("--token", default=os.environ.get("SLICEMARKET_TOKEN"), help="API token (env SLICEMARKET_TOKEN)")
    p.add_argument("--timeout", type=float, default=30.0, help="Seconds per HTTP request (default 30)")
    p.add_argument("--retries", type=int, default=3, help="Retries on 429 and connection errors (default 3)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="Print JSON instead of a table")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("search", parents=[common], help="Slices for sale")
    s.add_argument("--cpu", type=int)
    s.add_argument("--ram", type=float, help="GiB")
    s.add_argument("--disk", type=int, help="GB")
    s.add_argument("--start", help="ISO 8601 with a timezone, e.g. 2026-12-01T10:00:00Z")
    s.add_argument("--end")
    s.add_argument("--duration", help='Seconds, or "5 min", "1 h"')
    s.add_argument("--region")
    s.add_argument("--max-price")
    s.add_argument("--currency")
    s.add_argument("--ordering")
    s.add_argument("--max", type=int, default=50, help="At most this many slices (default 50)")
    s.set_defaults(func=cmd_search)

    b = sub.add_parser("book", parents=[common], help="Buy a slice (or bid on an auction slice)")
    b.add_argument("slice_id")
    b.add_argument("--duration", type=int)
    b.add_argument("--bid")
    b.add_argument("--quote")
    b.add_argument("--image")
    b.add_argument("--ssh-cidr", action="append", help="Repeat for several")
    b.add_argument("--idempotency-key")
    b.add_argument("--preview", action="store_true", help="Only say what it would cost")
    b.set_defaults(func=cmd_book)

    q = sub.add_parser("quote", parents=[common], help="A dynamic price for a slice")
    q.add_argument("slice_id")
    q.add_argument("--duration", type=int)
    q.set_defaults(func=cmd_quote)

    ls = sub.add_parser("bookings", parents=[common], help="Your bookings, newest first")
    ls.add_argument("--state")
    ls.add_argument("--max", type=int, default=100)
    ls.set_defaults(func=cmd_bookings)

    r = sub.add_parser("release", parents=[common], help="End a booking now")
    r.add_argument("booking", type=int)
    r.add_argument("--preview", action="store_true")
    r.set_defaults(func=cmd_release)

    e = sub.add_parser("extend", parents=[common], help="Move a booking's end later")
    e.add_argument("booking", type=int)
    e.add_argument("--duration", type=int, required=True, help="Seconds to add")
    e.add_argument("--preview", action="store_true")
    e.set_defaults(func=cmd_extend)

    u = sub.add_parser("usage", parents=[common], help="A booking's state and charges so far")
    u.add_argument("booking", type=int)
    u.set_defaults(func=cmd_usage)

    w = sub.add_parser("watch", parents=[common], help="Follow a booking to its end, one line per state change")
    w.add_argument("booking", type=int)
    w.add_argument("--interval", type=float, default=2.0, help="Seconds between polls (default 2)")
    w.add_argument("--timeout", type=float, default=None, help="Give up after this many seconds")
    w.set_defaults(func=cmd_watch)

    sb = sub.add_parser("standby", parents=[common], help="An owned offering's standby pools (owner scope)")
    sb.add_argument("offering", type=int)
    sb.add_argument("--profile", type=int)
    sb.add_argument("--size", type=int, help="Set the pool's size (with --profile)")
    sb.add_argument("--image")
    sb.set_defaults(func=cmd_standby)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    if not args.url:
        sys.stderr.write("slicemarket: give --url or set SLICEMARKET_URL\n")
        return 2
    client = Client(args.url, token=args.token, timeout=args.timeout, retries=args.retries)
    try:
        return int(args.func(client, args, out))
    except ApiError as exc:
        sys.stderr.write(f"slicemarket: {exc.status} {exc.code}: {exc.message}\n")
        for name, messages in exc.fields.items():
            sys.stderr.write(f"  {name}: {'; '.join(map(str, messages))}\n")
        if exc.get("longest_seconds") is not None:
            sys.stderr.write(f"  longest extension that can be granted: {exc.get('longest_seconds')} s\n")
        if exc.get("retry_after") is not None:
            sys.stderr.write(f"  retry after {exc.get('retry_after')} s\n")
        return 1
    except TransportError as exc:
        sys.stderr.write(f"slicemarket: {exc}\n")
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
