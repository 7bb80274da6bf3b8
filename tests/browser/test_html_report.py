"""The HTML report in a real browser: headless Chromium, network cut off, every chart drawn,
no JavaScript error. Needs Debian's `chromium` (.ci/setup-browser.sh installs it).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("plotly")

from costcli.cli.report import run_names
from costcli.pricing.projection import read_projection
from costcli.render.html import render
from costcli.results.document import read_result

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CHARTS = ("chart-cdf", "chart-bars", "chart-cost", "chart-projection")

# Records every error the page raises into the DOM, where --dump-dom shows it.
PROBE = """<script>
(function () {
  function note(text) {
    var root = document.documentElement;
    root.setAttribute("data-js-errors", (root.getAttribute("data-js-errors") || "") + text + "\\n");
  }
  window.addEventListener("error", function (e) { note("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) { note("rejection: " + e.reason); });
  var original = console.error;
  console.error = function () { note("console.error: " + Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); };
})();
</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_probe(page: str) -> str:
    return page.replace("<head>", "<head>" + PROBE, 1)


def dump_dom(html_file: Path, tmp_path: Path) -> tuple[str, str]:
    done = chromium(tmp_path / "profile", "--dump-dom", html_file.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def chart_section(dom: str, chart: str) -> str:
    start = dom.index(f'data-chart="{chart}"')
    end = dom.find("<section", start)
    return dom[start : end if end > 0 else None]


def js_errors(dom: str, log: str) -> list[str]:
    found = re.search(r'data-js-errors="([^"]*)"', dom)
    errors = [e for e in (found.group(1).split("\n") if found else []) if e.strip()]
    errors += [line for line in log.splitlines() if "Uncaught" in line or ":CONSOLE" in line]
    return errors


@pytest.fixture
def report_page(tmp_path: Path) -> Path:
    paths = [FIXTURES / "providers.json", FIXTURES / "baseline.json"]
    runs = list(zip(run_names(paths), (read_result(p) for p in paths), strict=True))
    page = render(runs, read_projection(FIXTURES / "projection.json"))
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', page)
    out = tmp_path / "report.html"
    out.write_text(with_probe(page), encoding="utf-8")
    return out


skip_without_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (run .ci/setup-browser.sh)"
)


@skip_without_chromium
def test_every_chart_is_drawn_offline_without_a_javascript_error(
    report_page: Path, tmp_path: Path
) -> None:
    dom, log = dump_dom(report_page, tmp_path)
    assert js_errors(dom, log) == []
    for chart in CHARTS:
        section = chart_section(dom, chart)
        assert section.count('class="main-svg"') >= 2, chart  # plotly drew the plot and its overlay
        assert "plot-container" in section, chart
    # Traces drawn: 4 targets x 3 CDF panels; 4 x 3 percentile bar groups; 2 priced points.
    assert chart_section(dom, "chart-cdf").count('class="trace scatter') == 12
    assert chart_section(dom, "chart-bars").count('class="trace bars"') == 12
    assert chart_section(dom, "chart-cost").count('class="trace scatter') == 2
    assert "Unpriced (not shown): providers · mock:mock-model, baseline · mock:mock-model" in dom
    projection = chart_section(dom, "chart-projection")
    assert "break-even 3.06M/month" in projection


@skip_without_chromium
def test_the_error_probe_catches_a_script_error(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        with_probe("<html><head></head><body><script>undefinedFunction();</script></body></html>"),
        encoding="utf-8",
    )
    dom, log = dump_dom(page, tmp_path)
    errors = js_errors(dom, log)
    assert errors
    assert "undefinedFunction" in errors[0]


@skip_without_chromium
def test_screenshot_of_the_report_is_a_full_page(report_page: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    done = chromium(
        tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,2300",
        f"--screenshot={png}", report_page.as_uri(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2300)
    assert len(data) > 60_000  # a blank page compresses to a few KB
