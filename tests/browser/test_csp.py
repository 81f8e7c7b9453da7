"""The portal works under its Content-Security-Policy: charts draw, htmx runs, the browser reports no violation."""

import pytest

from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_and_kpi_charts_run_without_csp_violations(page, channel_manager):
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(page, channel_manager.email)
    page.goto("/kpi/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof Chart") == "function"
    assert page.evaluate("typeof htmx") == "object"
    # Chart.js attached a chart to the trend canvas: the chart code in static/js/charts.js ran.
    assert page.evaluate("!!Chart.getChart(document.getElementById('trend-chart'))")
    page.select_option("select[name=language]", "ru")  # data-autosubmit (no inline onchange)
    page.wait_for_function("document.documentElement.lang === 'ru'")  # the form posted and the page came back
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert violations == []
