"""The `hw-proxy` console script (and `python -m hw_proxy`): the till's agent, served until SIGTERM, without the
modules that libraries load only to look at them.

- `import httpx` loads httpx's command-line client (`httpx._main`, with click, rich and pygments) whenever they
  are installed, as they are in a development environment;
- FastAPI imports pydantic's v1 package (`pydantic.v1`) at the first route, only to refuse v1 models;
- uvicorn imports watchfiles (its `--reload` watcher) whenever it is installed.

The agent uses none of them: they cost about 3.3, 2.9 and 0.6 MB that a till would hold for nothing (issue 17: under
80 MB idle). Each library takes its path for a module that is not installed when the module is marked absent before
it is imported, which is what this entry point does first.
"""

from __future__ import annotations

import sys
from typing import Final

NEVER_USED: Final = ("httpx._main", "pydantic.v1", "watchfiles")


def keep_unused_modules_out() -> None:
    """Mark `NEVER_USED` absent in this process: importing one of them raises ImportError from here on."""
    for name in NEVER_USED:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # None: the import system's mark for "absent"


def main() -> None:
    """Serve the agent (`hw_proxy.bootstrap.main`) once the unused modules are kept out."""
    keep_unused_modules_out()
    from hw_proxy.bootstrap import main as serve  # noqa: PLC0415 (imported after the modules are kept out)

    serve()


if __name__ == "__main__":
    main()
