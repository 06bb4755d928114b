/*
 * The admin's inference dashboard: polls the metrics JSON of the admin session and
 * draws it with uPlot (static/vendor/uplot). Every word shown comes from the page:
 * headings from the template, the rest from the JSON in #dashboard-labels, so the
 * dashboard follows the admin's language.
 */
"use strict";

(function () {
  const root = document.getElementById("redgx-dashboard");
  if (!root) {
    return;
  }
  const labels = JSON.parse(document.getElementById("dashboard-labels").textContent);
  const minutesSelect = document.getElementById("dashboard-minutes");
  const pollIntervalMs = Number(root.dataset.pollIntervalMs);
  const statusLine = document.getElementById("dashboard-status");
  const language = document.documentElement.lang || undefined;
  const palette = ["#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#b7791f", "#2c7a7b", "#97266d"];
  const CHART_HEIGHT = 220;

  // Chart name -> {plot, signature}. The browser test reads it through window.redgxDashboard.
  const charts = {};
  const state = { polls: 0, lastError: null };
  window.redgxDashboard = { charts: charts, state: state };

  function themeColor(name, fallback) {
    const value = getComputedStyle(document.body).getPropertyValue(name).trim();
    return value || fallback;
  }

  function formatTime(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function formatAxisTime(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit" });
  }

  function formatNumber(value, digits) {
    if (value === null || value === undefined) {
      return "-";
    }
    return Number(value).toLocaleString(language, { maximumFractionDigits: digits });
  }

  function interpolate(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_match, name) {
      return values[name];
    });
  }

  // Each chart's lines as [{label, values}], built from the series of the JSON.
  function linesOf(name, series) {
    const lines = [];
    if (name === "queue_depth") {
      for (const task of Object.keys(series.queue_depth)) {
        lines.push({ label: task, values: series.queue_depth[task] });
      }
    } else if (name === "throughput") {
      for (const task of Object.keys(series.throughput)) {
        if (series.throughput[task].done) {
          lines.push({ label: task, values: series.throughput[task].done });
        }
      }
    } else if (name === "batch_size") {
      for (const engine of Object.keys(series.batch_size)) {
        lines.push({ label: engine, values: series.batch_size[engine] });
      }
    } else if (name === "errors") {
      for (const task of Object.keys(series.throughput)) {
        if (series.throughput[task].failed) {
          lines.push({ label: task + ": " + labels.statuses.failed, values: series.throughput[task].failed });
        }
      }
      for (const kind of Object.keys(series.rejections)) {
        lines.push({ label: labels.rejections[kind] || kind, values: series.rejections[kind] });
      }
    }
    return lines;
  }

  function createPlot(area, lines, data) {
    const axisColor = themeColor("--body-fg", "#333");
    const gridColor = themeColor("--hairline-color", "#e8e8e8");
    const axis = { stroke: axisColor, grid: { stroke: gridColor }, ticks: { stroke: gridColor } };
    const options = {
      width: Math.max(area.clientWidth, 300),
      height: CHART_HEIGHT,
      scales: { x: { time: true } },
      series: [{ label: labels.time, value: function (_plot, value) { return value === null ? "-" : formatTime(value); } }].concat(
        lines.map(function (line, index) {
          return {
            label: line.label,
            stroke: palette[index % palette.length],
            width: 2,
            // Depth samples and batch sizes are missing where nothing was measured.
            spanGaps: true,
            value: function (_plot, value) { return formatNumber(value, 2); },
          };
        })
      ),
      axes: [
        Object.assign({}, axis, {
          // Minutes only, and ticks at least 70 px apart, so that localized times do not overlap.
          space: 70,
          values: function (_plot, splits) { return splits.map(formatAxisTime); },
        }),
        Object.assign({}, axis, { size: 60 }),
      ],
    };
    return new uPlot(options, data, area);
  }

  function drawChart(section, series) {
    const name = section.dataset.chart;
    const area = section.querySelector(".chart-area");
    const lines = linesOf(name, series);
    const data = [series.t].concat(lines.map(function (line) { return line.values; }));
    const signature = lines.map(function (line) { return line.label; }).join("\n");
    const existing = charts[name];

    if (lines.length === 0) {
      if (existing) {
        existing.plot.destroy();
        delete charts[name];
      }
      area.innerHTML = "";
      const empty = document.createElement("p");
      empty.className = "chart-empty";
      empty.textContent = labels.no_data;
      area.appendChild(empty);
      return;
    }
    if (existing && existing.signature === signature) {
      existing.plot.setData(data);
      return;
    }
    // A new task, engine or reason appeared: uPlot's series are fixed, so build the chart again.
    if (existing) {
      existing.plot.destroy();
    }
    area.innerHTML = "";
    charts[name] = { plot: createPlot(area, lines, data), signature: signature };
  }

  function fillTable(id, rows) {
    const body = document.querySelector("#" + id + " tbody");
    body.innerHTML = "";
    for (const row of rows) {
      const tr = document.createElement("tr");
      row.forEach(function (cell, index) {
        const td = document.createElement(index === 0 ? "th" : "td");
        if (index === 0) {
          td.scope = "row";
        }
        td.textContent = cell.text;
        if (cell.number) {
          td.className = "number";
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
  }

  function drawTables(metrics) {
    const queueRows = Object.keys(metrics.queues).map(function (task) {
      const queue = metrics.queues[task];
      const rates = metrics.throughput[task] || {};
      const finished = Object.values(rates).reduce(function (sum, rate) { return sum + rate; }, 0);
      return [
        { text: task },
        { text: formatNumber(queue.depth, 0), number: true },
        { text: formatNumber(queue.oldest_age_s, 1), number: true },
        { text: formatNumber(finished, 2), number: true },
        { text: formatNumber((metrics.failed_ratio[task] || 0) * 100, 1) + " %", number: true },
      ];
    });
    fillTable("dashboard-queues", queueRows);

    const engineRows = metrics.engines.map(function (engine) {
      const batches = metrics.batches[engine.name] || { batches: 0, mean_size: null, mean_engine_ms: null };
      return [
        { text: engine.name },
        { text: engine.task },
        { text: labels.circuits[engine.circuit.state] || engine.circuit.state },
        { text: formatNumber(batches.batches, 0), number: true },
        { text: batches.batches ? formatNumber(batches.mean_size, 2) : "-", number: true },
        { text: batches.batches ? formatNumber(batches.mean_engine_ms, 1) : "-", number: true },
      ];
    });
    fillTable("dashboard-engines", engineRows);
  }

  function showStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  let nextPoll = null;
  let polling = false;
  let pollAgain = false;

  async function poll() {
    // One poll at a time: a period change during a poll starts another one when it ends.
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = true;
    window.clearTimeout(nextPoll);
    const dataUrl = root.dataset.url + "?minutes=" + encodeURIComponent(minutesSelect.value);
    try {
      const response = await fetch(dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!body.ok) {
        throw new Error(body.error.message);
      }
      for (const section of root.querySelectorAll(".dashboard-chart")) {
        drawChart(section, body.data.series);
      }
      drawTables(body.data.metrics);
      state.polls += 1;
      state.lastError = null;
      showStatus(interpolate(labels.updated, { time: formatTime(Date.now() / 1000) }), false);
    } catch (error) {
      state.lastError = String(error.message || error);
      showStatus(interpolate(labels.failed_to_load, { error: state.lastError }), true);
    }
    polling = false;
    if (pollAgain) {
      pollAgain = false;
      poll();
      return;
    }
    nextPoll = window.setTimeout(poll, pollIntervalMs);
  }

  minutesSelect.addEventListener("change", poll);

  window.addEventListener("resize", function () {
    for (const section of root.querySelectorAll(".dashboard-chart")) {
      const chart = charts[section.dataset.chart];
      if (chart) {
        chart.plot.setSize({ width: Math.max(section.querySelector(".chart-area").clientWidth, 300), height: CHART_HEIGHT });
      }
    }
  });

  poll();
})();
