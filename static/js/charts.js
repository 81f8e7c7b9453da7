// Charts of the KPI dashboard, a partner's KPI history and the training report (Chart.js from npm).
// Data comes from json_script blocks, translated series names from data-series-* attributes: no inline script,
// so the Content-Security-Policy needs no 'unsafe-inline'.
(function () {
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function canvas(id) { return document.getElementById(id); }
  var percent = {scales: {y: {min: 0, max: 100}}};

  var trend = data("trend-data"), tiers = data("tier-data");
  if (trend && canvas("trend-chart")) {
    var s = canvas("trend-chart").dataset;
    new Chart(canvas("trend-chart"), {type: "line", data: {labels: trend.labels, datasets: [
      {label: s.seriesAcceptance, data: trend.acceptance, spanGaps: true},
      {label: s.seriesFirstContact, data: trend.first_contact, spanGaps: true},
      {label: s.seriesHygiene, data: trend.hygiene, spanGaps: true}]}, options: percent});
  }
  if (tiers && canvas("tier-chart")) {
    new Chart(canvas("tier-chart"), {type: "doughnut", data: {labels: tiers.labels, datasets: [{data: tiers.counts}]}});
  }

  var history = data("history-data");
  if (history && canvas("sla-chart")) {
    var h = canvas("sla-chart").dataset;
    new Chart(canvas("sla-chart"), {type: "line", data: {labels: history.labels, datasets: [
      {label: h.seriesAcceptance, data: history.acceptance, spanGaps: true},
      {label: h.seriesFirstContact, data: history.first_contact, spanGaps: true},
      {label: h.seriesHygiene, data: history.hygiene, spanGaps: true}]}, options: percent});
    new Chart(canvas("score-chart"), {type: "line", data: {labels: history.labels, datasets: [
      {label: canvas("score-chart").dataset.seriesScore, data: history.score}]}});
  }

  // Generic bar charts: <canvas data-chart="bar" data-source="<json_script id>"> with {labels, datasets};
  // data-horizontal="1" lays the bars sideways (the routing funnel).
  document.querySelectorAll("canvas[data-chart]").forEach(function (el) {
    var d = data(el.dataset.source);
    if (!d) return;
    var one = d.datasets.length === 1;
    var values = {beginAtZero: true, ticks: {precision: 0}};
    new Chart(el, {type: el.dataset.chart, data: d, options: {
      locale: document.documentElement.lang || undefined,  // numbers grouped the reader's way
      indexAxis: el.dataset.horizontal ? "y" : "x",
      plugins: {legend: {display: !one || !!d.datasets[0].label}},
      scales: el.dataset.horizontal ? {x: values} : {y: values}}});
  });

  var training = data("training-chart-data");
  if (training) {
    var bar = function (id, d) {
      new Chart(canvas(id), {type: "bar", data: {labels: d.labels, datasets: [{label: canvas(id).dataset.series, data: d.values}]},
        options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true}}}});
    };
    bar("chart-competency", training.competency);
    bar("chart-completion", training.completion);
  }
})();
