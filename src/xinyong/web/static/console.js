/* Draws the console's charts with the self-hosted ECharts. Data comes from <script type="application/json"
   id="dashboard-data"> (no inline script: the CSP forbids it); every chart has a data table beside it, so the
   page is complete without JavaScript. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof echarts === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var palette = ["#b71c1c", "#0550ae", "#1a7f37", "#9a6700", "#8250df", "#57606a", "#bf3989", "#0a3069"];

  function pct(v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }
  function names(rows) { return rows.map(function (r) { return r.department_name; }); }
  // Each department has its own colour, the same in every chart and on every page (console_dashboards.py
  // department_colour: a fixed palette of 16, picked by the department's id).
  var colours = (data && data.colours) || {};
  function deptColour(row) { return colours[String(row.department_id)] || row.colour || null; }
  function byDept(rows, values) {
    return rows.map(function (r, i) {
      var c = deptColour(r);
      return c ? { value: values[i], itemStyle: { color: c } } : values[i];
    });
  }
  // The legend sits below the chart and wraps onto as many lines as it needs; the grid leaves it that room and
  // the chart grows by it, so on a phone the legend never covers an axis or the bars.
  var LEGEND_LINE = 22;
  function legendLines(names, width) {
    var lines = 1, used = 0, avail = Math.max(120, width - 16);
    names.forEach(function (n) {
      var w = 36 + 13 * String(n).length;
      if (used > 0 && used + w > avail) { lines += 1; used = 0; }
      used += w;
    });
    return lines;
  }
  function base(extra) {
    var option = { color: palette, tooltip: { trigger: "axis", renderMode: "richText" },
                   legend: { type: "plain", bottom: 0, left: 8, right: 8 },
                   grid: { left: 16, right: 16, top: 32, bottom: 32, containLabel: true } };
    for (var k in extra) { option[k] = extra[k]; }
    return option;
  }
  function fitLegend(el, option) {
    if (option.legend && option.legend.show === false) { return; }
    var series = option.series || [];
    var lines = legendLines(series.map(function (s) { return s.name; }), el.clientWidth || 320);
    option.grid = option.grid || {};
    option.grid.bottom = 12 + lines * LEGEND_LINE;
    if (!el.dataset.baseHeight) { el.dataset.baseHeight = String(el.clientHeight || 320); }
    el.style.height = (Number(el.dataset.baseHeight) + (lines - 1) * LEGEND_LINE) + "px";
  }
  function rateAxis() { return { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }; }
  function deptAxis(rows) { return { type: "category", data: names(rows), axisLabel: { interval: 0, rotate: rows.length > 6 ? 30 : 0 } }; }

  var builders = {
    records: function (d) {
      var r = d.records;
      return base({ xAxis: { type: "category", data: r.months }, yAxis: { type: "value" },
        series: r.departments.map(function (row) {
          return { name: row.department_name, type: "bar", stack: "total", itemStyle: { color: deptColour(row) || undefined },
                   data: row.licence.map(function (n, i) { return n + row.penalty[i]; }) };
        }) });
    },
    timeliness: function (d) {
      return base({ xAxis: deptAxis(d.timeliness), yAxis: rateAxis(),
        series: [{ name: "7 个工作日内报送比例", type: "bar",
                  data: byDept(d.timeliness, d.timeliness.map(function (r) { return pct(r.rate); })) }] });
    },
    quality: function (d) {
      return base({ xAxis: deptAxis(d.quality), yAxis: rateAxis(),
        series: [{ name: "退回率", type: "bar", data: d.quality.map(function (r) { return pct(r.rejection_rate); }) },
                 { name: "必填项完整率", type: "bar", data: d.quality.map(function (r) { return pct(r.completeness); }) }] });
    },
    checks: function (d) {
      return base({ xAxis: deptAxis(d.checks), yAxis: [{ type: "value", name: "次数" }, rateAxis()],
        series: [{ name: "结果含措施的核查", type: "bar", data: d.checks.map(function (r) { return r.with_measures; }) },
                 { name: "反馈率", type: "line", yAxisIndex: 1, data: d.checks.map(function (r) { return pct(r.rate); }) }] });
    },
    lists: function (d) {
      var sizes = d.lists.sizes;
      return base({ xAxis: { type: "value" },
        yAxis: { type: "category", data: sizes.map(function (s) { return s.list_name; }) },
        grid: { left: 16, right: 24, top: 24, containLabel: true },
        series: [{ name: "有效条目", type: "bar", data: sizes.map(function (s) { return s.active; }) }] });
    },
    "list-flows": function (d) {
      return base({ xAxis: { type: "category", data: d.lists.months }, yAxis: { type: "value" },
        series: [{ name: "列入", type: "line", data: d.lists.listed }, { name: "移出", type: "line", data: d.lists.removed }] });
    },
    cases: function (d) {
      return base({ xAxis: deptAxis(d.cases), yAxis: [rateAxis(), { type: "value", name: "工作日" }],
        series: [{ name: "按时办结率", type: "bar", data: d.cases.map(function (r) { return pct(r.on_time_rate); }) },
                 { name: "平均办理工作日", type: "line", yAxisIndex: 1, data: d.cases.map(function (r) { return r.mean_workdays; }) }] });
    },
    ranking: function (d) {
      var rows = d.slice().reverse();
      return base({ legend: { show: false }, xAxis: { type: "value", min: 0, max: 100 },
        yAxis: { type: "category", data: rows.map(function (r) { return r.name; }) },
        grid: { left: 16, right: 24, top: 16, bottom: 24, containLabel: true },
        series: [{ name: "总分", type: "bar", data: byDept(rows, rows.map(function (r) { return r.total; })),
                   label: { show: true, position: "right" } }] });
    }
  };

  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var build = builders[el.getAttribute("data-chart")];
    if (!build) { return; }
    var option = build(data);
    fitLegend(el, option);
    var chart = echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option);
    charts.push({ el: el, chart: chart, build: build });
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) {
      var option = c.build(data);
      fitLegend(c.el, option);
      c.chart.resize();
      c.chart.setOption(option, true);
    });
  });
})();
