"""report.html answers the question and reads as a page: the headline names the best policy
with its paired interval (checked against comparison.csv), every chart is also a PNG, the page
is self-contained, and in headless Chromium the screenshot is not blank and no table is wider
than the page (skipped, with the reason, where Chromium is not installed)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from waifang.scenarios.cli import main
from waifang.scenarios.report_charts import CHARTS, simulated_roll_rates

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    text = (DATA / "small.toml").read_text()
    text = text.replace("accounts = 3000", "accounts = 1500").replace("days = 60", "days = 45")
    path = folder / "report.toml"
    path.write_text(text.replace("replications = 2", "replications = 3"))
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return out


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")


def _headless(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-dev-shm-usage", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_headline_names_the_best_policy_with_its_paired_interval(report):
    page = (report / "report.html").read_text()
    comparison = pd.read_csv(report / "comparison.csv").set_index(["policy", "metric"])
    for metric in ("net_value", "net_npv"):
        means = comparison.xs(metric, level="metric")["mean"]
        best = means.idxmax()
        sentence = re.search(rf"<li>On <b>{metric}</b>.*?</li>", page)
        assert sentence, metric
        sentence = sentence.group(0)
        if best == "ladder":
            assert "the champion <b>ladder</b> is best" in sentence
            runner_up = means.drop("ladder").idxmax()
            row = comparison.loc[(runner_up, metric)]
            low, high = -row["diff_ci_high"], -row["diff_ci_low"]
            assert f"the next best, {runner_up}," in sentence
        else:
            assert f"<b>{best}</b> is best" in sentence
            row = comparison.loc[(best, metric)]
            low, high = row["diff_ci_low"], row["diff_ci_high"]
        numbers = re.search(r"paired 95 % CI \[(\S+), (\S+)\]", sentence)
        assert numbers, sentence
        shown = [float(x.replace(",", "").replace("M", "e6")) for x in numbers.groups()]
        np.testing.assert_allclose(shown, [low, high], rtol=0.01, atol=1.0)
        significant = low > 0 or high < 0
        assert ("not significant" in sentence) == (not significant)
    # It opens the page: before any chart or table.
    assert page.index('class="headline"') < page.index("<img")


def test_every_chart_is_embedded_and_written_as_png(report):
    page = (report / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    written = [name for name, _, _ in CHARTS if (report / name).exists()]
    assert len(written) == len(CHARTS) == 6  # the small run has data for every chart
    assert [base64.b64decode(e) for e in embedded] == [(report / n).read_bytes() for n in written]
    # Self-contained: nothing fetched from elsewhere.
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page


def test_roll_rates_are_counts_thirty_days_apart():
    """Independent check on a hand-made daily table: bucket k at day t, k+1 at day t+30."""
    days = np.arange(1, 61)
    frame = pd.DataFrame({"policy": "p", "replication": 0, "day": days})
    from waifang.sim.spec import BUCKETS

    for k, bucket in enumerate(BUCKETS):
        frame[f"bucket_{bucket}"] = 1000.0 / (k + 1)
    rates = simulated_roll_rates(frame)
    expected = [(1000.0 / (k + 2)) / (1000.0 / (k + 1)) for k in range(len(BUCKETS) - 1)]
    np.testing.assert_allclose(rates.loc["p"].to_numpy(), expected)


@pytest.mark.parametrize("width", [1280, 800])
def test_page_renders_in_chromium_not_blank_and_tables_fit(report, tmp_path, width):
    shot = tmp_path / "shot.png"
    result = _headless(f"--window-size={width},2400", f"--screenshot={shot}",
                       (report / "report.html").as_uri())
    assert shot.exists(), result.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[1] == width
    ink = (pixels.min(axis=2) < 0.6).mean()  # share of clearly non-white pixels
    assert ink > 0.02, f"screenshot looks blank ({ink:.3%} ink)"

    # The same page with a probe that measures every table against the page's width.
    probe = tmp_path / "probe.html"
    page = (report / "report.html").read_text()
    script = """<script>
window.addEventListener('load', () => {
  const page = document.documentElement.clientWidth;
  const rows = [...document.querySelectorAll('table')].map(
    t => [Math.ceil(t.getBoundingClientRect().right), t.scrollWidth, t.clientWidth]);
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({page, scroll: document.documentElement.scrollWidth, rows});
  document.body.appendChild(out);
});
</script></body>"""
    probe.write_text(page.replace("</body>", script))
    result = _headless(f"--window-size={width},2400", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    import json

    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(measured["rows"]) >= 3
    assert measured["scroll"] <= measured["page"], "the page scrolls sideways"
    for right, scroll_width, client_width in measured["rows"]:
        assert right <= measured["page"], measured
        assert scroll_width <= client_width + 1, measured


def test_region_capacity_from_the_daily_region_columns():
    """Hand-made daily table with the engine's ``visits_<what>[<region>]`` columns."""
    from waifang.scenarios.report_charts import region_capacity

    rows = []
    for policy in ("p", "q"):
        for replication in (0, 1):
            for day in (1, 2, 3):
                k = (policy == "q") * 100 + replication * 10 + day
                rows.append({"policy": policy, "replication": replication, "day": day,
                             "visits_performed[north]": k, "visits_dropped[north]": 1,
                             "visits_waiting[north]": day, "visits_utilisation[north]": 0.5,
                             "visits_performed[south east]": 2 * k, "collected": 9.0})
    table = region_capacity(pd.DataFrame(rows)).set_index(["policy", "region"])
    # p, north: replication 0 performs 1+2+3 = 6, replication 1 performs 11+12+13 = 36.
    assert table.loc[("p", "north"), "performed"] == (6 + 36) / 2
    assert table.loc[("q", "north"), "performed"] == (306 + 336) / 2
    assert table.loc[("p", "south east"), "performed"] == 42.0
    assert table.loc[("p", "north"), "dropped"] == 3.0  # 1 a day for 3 days
    assert table.loc[("p", "north"), "waiting"] == 2.0  # a level: the mean of 1, 2, 3
    assert table.loc[("q", "north"), "utilisation"] == 0.5
    assert region_capacity(pd.DataFrame({"policy": ["p"], "replication": [0]})).empty


def test_the_page_states_how_money_is_counted(report):
    """The discounting of net_npv and the simplification about cured accounts (what they owe
    afterwards) are on the page, not only in the README."""
    page = (report / "report.html").read_text()
    section = page.split("<h2>How the money is counted</h2>", 1)[1].split("<h2>", 1)[0]
    text = re.sub(r"\s+", " ", section)
    assert "cost_npv" in text and "discounted to day 0" in text
    assert "a cured account owes nothing overdue" in text.lower()
    assert "instalments that fall due while it is current are not collected" in text
    assert "judgement that pays all the arrears cures" in text


def test_cells_that_do_not_apply_show_a_dash_not_nan(report):
    """The capacity table has cells that do not apply (a court has no called-off visits):
    they show a dash; no table on the page prints NaN."""
    page = (report / "report.html").read_text()
    capacity = page.split("<h2>Capacity use by region", 1)[1].split("<h2>", 1)[0]
    assert "<td>—</td>" in capacity
    assert ">NaN<" not in page and ">nan<" not in page


def _headline_of(rows):
    """The headline of a run whose comparison rows are ``rows`` (policy, metric, mean, diff,
    low, high); the champion is the first policy."""
    from types import SimpleNamespace

    from waifang.scenarios.html_report import headline

    frame = pd.DataFrame(rows, columns=["policy", "metric", "mean", "diff_vs_champion",
                                        "diff_ci_low", "diff_ci_high"])
    policies = list(dict.fromkeys(frame["policy"]))
    results = SimpleNamespace(comparison=frame, policies=policies,
                              scenario=SimpleNamespace(champion=policies[0]))
    return headline(results)


def test_headline_says_when_the_runner_up_is_the_champion_to_the_cent():
    # As in the baseline: early_visits is refused every early visit under cn, so it makes
    # exactly the ladder's numbers; the page used to say "is -0 lower ... CI [-0, -0]".
    lines = _headline_of([
        ("ladder", "net_npv", 140.55e6, 0.0, 0.0, 0.0),
        ("early_visits", "net_npv", 140.55e6, 0.0, 0.0, 0.0),
        ("digital_only", "net_npv", 140.16e6, -395_698.0, -759_059.0, -32_337.0),
    ])
    assert lines == [
        "On <b>net_npv</b> the champion <b>ladder</b> is best (140.55M per replication); the "
        "next best, early_visits, gives exactly the champion's figure on every replication."
    ]
    assert not any("-0" in line for line in lines)
    # A runner-up that differs keeps its interval, sign flipped to "lower".
    lines = _headline_of([
        ("ladder", "net_npv", 140.55e6, 0.0, 0.0, 0.0),
        ("digital_only", "net_npv", 140.16e6, -395_698.0, -759_059.0, -32_337.0),
    ])
    assert "digital_only, is 395,698 lower (paired 95 % CI [32,337, 759,059]; significant" in (
        lines[0])
