"""``molmtl info``: counts, elements, label coverage, units and provenance of a molmtl HDF5 file."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl info``."""
    parser.add_argument("file", help="molmtl HDF5 file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--ranges",
        action="store_true",
        help="also read every structure and print label ranges (slower on large files)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary of ``args.file``; return 1 when it cannot be read."""
    from molmtl.data.info import describe_file, format_description
    from molmtl.data.reader import FormatError

    try:
        description = describe_file(args.file, ranges=args.ranges)
    except (FormatError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(description, indent=2, default=str))
    else:
        print(format_description(description))
    return 0
