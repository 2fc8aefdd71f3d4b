"""A progress bar on stderr for the training commands (tqdm), fed by service progress calls."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yields ``progress(done, total, message)`` that moves a bar on stderr."""
    from tqdm import tqdm

    bar: Any = tqdm(desc=description, file=sys.stderr, disable=not enabled, dynamic_ncols=True)
    try:

        def progress(done: int, total: int | None = None, message: str = "") -> None:
            if total is not None and bar.total != total:
                bar.total = total
            bar.n = done
            if message:
                bar.set_postfix_str(message[:80], refresh=False)
            bar.refresh()

        yield progress
    finally:
        bar.close()
