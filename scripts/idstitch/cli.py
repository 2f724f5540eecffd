"""The ``idstitch`` command line.

    idstitch demo --persons 1000 --out demo/csv [--duckdb demo/demo.duckdb --schema segment]
    idstitch quality --duckdb demo/demo.duckdb --source-schema segment --output-schema main

Exit codes: 0 ok, 2 an error (one line on stderr, no traceback for bad input).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__


class UsageError(Exception):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: error: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="idstitch", description="Identity stitching for Segment-style event tables.")
    parser.add_argument("--version", action="version", version=f"idstitch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="generate the synthetic demo data set (with ground truth)",
                          description="Write tracks, pages, identifies, aliases and truth as CSV files, "
                                      "optionally loading them into a DuckDB file.")
    demo.add_argument("--persons", type=_positive_int, default=1000, help="true persons (default 1000)")
    demo.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    demo.add_argument("--days", type=_positive_int, default=90, help="days of traffic (default 90)")
    demo.add_argument("--out", required=True, type=Path, help="directory for the CSV files")
    demo.add_argument("--duckdb", type=Path, help="also load the CSV files into this DuckDB file")
    demo.add_argument("--schema", default="segment", help="schema for --duckdb (default segment)")

    quality = sub.add_parser("quality", help="score stitching against the demo data's ground truth",
                             description="Pairwise precision / recall / F1 over messages for idstitch, "
                                         "the one-hop baseline and the best achievable.")
    quality.add_argument("--duckdb", required=True, type=Path, help="DuckDB file holding both schemas")
    quality.add_argument("--source-schema", default="segment", help="raw tables + truth (default segment)")
    quality.add_argument("--output-schema", default="main", help="idstitch's output tables (default main)")
    quality.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    demo._check_ident(args.schema)  # fail before writing anything
    started = time.monotonic()
    dataset = demo.generate(args.persons, seed=args.seed, days=args.days)
    counts = demo.write_csv(dataset, args.out)
    summary = " ".join(f"{t}={n:,}" for t, n in counts.items())
    where = str(args.out)
    if args.duckdb is not None:
        demo.load_duckdb(args.duckdb, args.schema, args.out)
        where += f" and {args.duckdb} (schema {args.schema})"
    print(f"demo: {args.persons:,} persons, seed {args.seed}: {summary} -> {where} "
          f"in {time.monotonic() - started:.1f}s")
    return 0


def _cmd_quality(args: argparse.Namespace) -> int:
    import duckdb

    from . import quality

    if not args.duckdb.is_file():
        raise UsageError(f"idstitch quality: error: no DuckDB file at {args.duckdb}")
    con = duckdb.connect(str(args.duckdb), read_only=True)
    try:
        results = quality.evaluate(con, args.source_schema, args.output_schema)
    finally:
        con.close()
    print(json.dumps(results, indent=2) if args.json else quality.format_table(results))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        handler = {"demo": _cmd_demo, "quality": _cmd_quality}[args.command]
        return handler(args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"idstitch: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # database errors (duckdb.Error, psycopg2.Error) carry their own message
        if type(exc).__module__.split(".")[0] in {"duckdb", "_duckdb", "psycopg2"}:
            print(f"idstitch: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
