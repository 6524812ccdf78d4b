"""Write docs/settings.md's setting tables from the settings registry (``--check``: only compare).

Usage: ``python scripts/settings_doc.py [--check]``; exit status 1 when ``--check`` finds
the page stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deforum_blender.core.settings_doc import render_page  # noqa: E402

PAGE = ROOT / "docs" / "settings.md"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page, or with ``--check`` say whether it is current."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check the page is current")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    current = render_page(page)
    if args.check:
        if current != page:
            print(f"{PAGE}: stale; run python scripts/settings_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != page:
        PAGE.write_text(current, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
