"""Headless Chromium for report tests: render a local HTML file, return the DOM after
scripts would have run, and save a screenshot. Tests skip when Chromium is absent
(`.ci/run` installs Debian's `chromium` where it can)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium not installed (Debian package `chromium`)")
    return path


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    base = [require_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--disable-extensions"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout,
                          check=True)


def rendered_dom(html_file: Path) -> str:
    """The document as Chromium holds it after loading (and running any scripts)."""
    return _run(["--dump-dom", Path(html_file).resolve().as_uri()]).stdout


def screenshot(html_file: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
    _run([f"--screenshot={Path(png).resolve()}", f"--window-size={width},{height}",
          Path(html_file).resolve().as_uri()])
    if not Path(png).is_file() or Path(png).stat().st_size == 0:
        raise AssertionError(f"Chromium wrote no screenshot to {png}")
    return Path(png)
