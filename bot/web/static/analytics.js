// The analytics page's charts, drawn from the page's own JSON (#analytics-data) with the
// vendored uPlot; the weekday × hour heatmap on a plain canvas. No network, no inline code.
"use strict";
(function () {
  const island = document.getElementById("analytics-data");
  if (!island || typeof uPlot === "undefined") return;
  const data = JSON.parse(island.textContent);
  if (!data.posts) return;
  const percent = (v) => (v == null ? "—" : (100 * v).toFixed(2) + "%");
  const width = (el) => Math.max(280, el.clientWidth);
  const charts = [];

  function line(id, days, values, label, format, color) {
    const el = document.getElementById(id);
    if (!el || !days.length) return;
    const xs = days.map((d) => Date.parse(d + "T12:00:00Z") / 1000);
    const chart = new uPlot({
      width: width(el), height: 220,
      series: [{ label: "day" }, { label: label, stroke: color, width: 2, points: { show: days.length < 60 }, value: (u, v) => format(v) }],
      axes: [{}, { values: (u, vals) => vals.map(format), size: 64 }],
    }, [xs, values], el);
    charts.push([chart, el]);
  }

  function bars(id, rows, color) {
    const el = document.getElementById(id);
    if (!el || !rows.length) return;
    const xs = rows.map((_, i) => i);
    const chart = new uPlot({
      width: width(el), height: 220,
      scales: { x: { time: false, range: [-0.5, rows.length - 0.5] }, y: { range: (u, min, max) => [0, max * 1.15 || 1] } },
      series: [{ label: "", value: (u, v) => (v == null || !rows[v] ? "—" : rows[v].name) }, { label: "median engagement", fill: color, stroke: color, paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false }, value: (u, v) => percent(v) }],
      axes: [{ values: (u, vals) => vals.map((v) => (rows[v] ? rows[v].name : "")), splits: () => xs }, { values: (u, vals) => vals.map(percent), size: 64 }],
    }, [xs, rows.map((r) => r.median_engagement_rate)], el);
    charts.push([chart, el]);
  }

  function heatmap(id, cells) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const ctx = canvas.getContext("2d");
    const values = cells.flat().filter((v) => v != null);
    const top = Math.max(...values, 1e-9);
    const left = 40, cell = (canvas.width - left) / 24, row = (canvas.height - 20) / 7;
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.font = "11px sans-serif"; ctx.fillStyle = "#333";
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].forEach((d, i) => ctx.fillText(d, 4, 20 + i * row + row * 0.7));
    for (let h = 0; h < 24; h += 3) ctx.fillText(String(h).padStart(2, "0"), left + h * cell, 12);
    cells.forEach((hours, day) => hours.forEach((v, hour) => {
      ctx.fillStyle = v == null ? "#f1f1ee" : `rgba(11, 94, 140, ${0.15 + 0.85 * (v / top)})`;
      ctx.fillRect(left + hour * cell + 1, 20 + day * row + 1, cell - 2, row - 2);
    }));
  }

  const s = data.series;
  line("chart-engagement", s.days, s.engagement_rate, "engagement rate", percent, "#0b5e8c");
  line("chart-reach", s.days, s.reach, "reach", (v) => (v == null ? "—" : Math.round(v).toLocaleString()), "#6b3fa0");
  bars("chart-pillar", data.by_pillar, "#0b7a4b");
  bars("chart-format", data.by_format, "#a0521c");
  heatmap("heatmap", data.heatmap);
  line("chart-followers", data.followers.days, data.followers.followers, "followers", (v) => (v == null ? "—" : Math.round(v).toLocaleString()), "#8c1c4f");
  window.addEventListener("resize", () => charts.forEach(([chart, el]) => chart.setSize({ width: width(el), height: 220 })));
  document.body.dataset.chartsDrawn = String(charts.length + 1);
})();
