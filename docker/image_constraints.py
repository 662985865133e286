"""Write the pip constraints for installing this provider into an image that already has Airflow.

Reads the project's constraints file and prints it back with one change: a package the image already
has is pinned to the version the image has. pip then adds what the provider needs (at the project's
pinned versions) without moving any library under the providers the image ships. With ``--strict`` the
project's file is printed unchanged.

    python image_constraints.py constraints-py3.11.txt > constraints.txt
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import sys


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            versions.setdefault(canonical(name), dist.version)
    return versions


def merge(lines: list[str], installed: dict[str, str]) -> tuple[list[str], list[str]]:
    """The constraints to use, and a note for each pin that the image overrides."""
    merged: list[str] = []
    notes: list[str] = []
    for line in lines:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if not match:
            merged.append(line)
            continue
        name, pinned = match.groups()
        have = installed.get(canonical(name))
        if have is None or have == pinned:
            merged.append(line)
        else:
            merged.append(f"{name}=={have}  # image has it; the project pins {pinned}")
            notes.append(f"{name}: image {have}, project {pinned}")
    return merged, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("constraints", help="the project's constraints file")
    parser.add_argument("--strict", action="store_true", help="print the project's file unchanged")
    args = parser.parse_args(argv)
    with open(args.constraints, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    notes: list[str] = []
    if args.strict:
        merged = lines
    else:
        merged, notes = merge(lines, installed_versions())
    print("\n".join(merged))
    for note in notes:
        print(f"kept the image's version of {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
