"""Open a report in headless Chromium at desktop and phone widths: screenshots, and whether the
page overflows sideways (a table or figure wider than the window that is not in a scroll box).

    python benchmarks/report_check.py reference/gan_vs_vae/report.html --out /tmp/report-check

Needs Debian's chromium (`apt-get install chromium`); prints one line per width and exits 1 if
any page overflows. The report itself needs no browser: this is the check a reviewer runs.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = {"desktop": 1280, "phone": 390}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=5000",
         "--allow-file-access-from-files"]  # the frame reads the page's measurement
# Measured inside the page after it loaded: how far the page is wider than the window.
# Chromium's window is at least 500 px wide, so the page is shown in a frame of the wanted width.
MEASURE = """<script>window.addEventListener('load', () => {
  const overflow = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  document.body.setAttribute('data-overflow', String(overflow));
});</script>"""
FRAME = """<!doctype html><html><body style="margin:0"><iframe id="page" src="report.html" width="{width}"
height="2400" style="border:0"></iframe><script>
document.getElementById('page').addEventListener('load', (event) => {{
  document.body.setAttribute('data-overflow', event.target.contentDocument.body.getAttribute('data-overflow'));
}});</script></body></html>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    sys.exit("no Chromium found: apt-get install chromium")


def check(report: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(report.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        for name, width in WIDTHS.items():
            frame = Path(tmp) / f"{name}.html"
            frame.write_text(FRAME.format(width=width), encoding="utf-8")
            size = f"--window-size={max(width, 500)},2400"
            shot = out / f"report-{name}.png"
            subprocess.run([browser, *FLAGS, size, f"--screenshot={shot}", frame.as_uri()], capture_output=True,
                           timeout=120, check=False)
            dom = subprocess.run([browser, *FLAGS, size, "--dump-dom", frame.as_uri()], capture_output=True, text=True,
                                 timeout=120, check=False).stdout
            found = re.search(r'data-overflow="(-?\d+)"', dom)
            overflow = int(found.group(1)) if found else None
            ok = overflow is not None and overflow <= 0
            failed += not ok
            print(f"{name} ({width}px): page overflow {overflow if overflow is not None else '?'} px "
                  f"({'ok' if ok else 'OVERFLOWS'}), screenshot {shot}")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report-check"))
    args = parser.parse_args()
    return check(args.report, args.out)


if __name__ == "__main__":
    sys.exit(main())
