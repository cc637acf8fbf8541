"""Run every benchmark (``make bench``) and write bench/results/<name>.json."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

from bench._common import write


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = names or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    failed = 0
    for name in modules:
        print(f"== {name}", flush=True)
        try:
            res = importlib.import_module(f"bench.{name}").run()
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        print(f"   ratio: {res['ratio']}  -> {write(res)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
