// Draws every <canvas data-chart="ID"> with Chart.js (static/vendor/chartjs), from the JSON in its
// data-chart-spec attribute, else in the element with that id (Django's json_script), so no inline
// script is needed under the CSP:
//
//   {"type": "line" | "bar", "labels": [...], "datasets": [{"label": "...", "data": [...],
//    "step": true, "dashed": true, "fill": false}], "y_label": "EUR", "stacked": false}
//
// A dataset may name its own "type" ("line" over a "bar" chart: a running total, a limit).
//
// Labels are formatted by the server in the viewer's time zone. A canvas with data-chart-url is
// refreshed from that URL (same JSON, answered with the viewer's session) every data-chart-refresh
// seconds (default 5) while the page is open, for series that grow (a running booking's usage).
//
// After each draw the canvas carries data-points="N" (data points across its datasets) and
// data-rendered="true", which the browser tests read to prove a chart really has data.
//
// Charts that arrive later (htmx swaps a fragment in: the slice search's price history) are drawn
// on htmx:load, which htmx fires for every element it adds; htmx drops <script> elements it swaps
// in (allowScriptTags is false), so such a fragment carries its spec in data-chart-spec. A canvas
// is set up once; its refresh stops when it leaves the page.
(function () {
  "use strict";

  var PALETTE = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#5c7cfa", "#e67700"];

  function pointsOf(spec) {
    var n = 0;
    (spec.datasets || []).forEach(function (d) {
      (d.data || []).forEach(function (v) {
        if (v !== null && v !== undefined) {
          n += 1;
        }
      });
    });
    return n;
  }

  function config(spec) {
    var datasets = (spec.datasets || []).map(function (d, i) {
      var colour = d.colour || PALETTE[i % PALETTE.length];
      return {
        type: d.type || undefined,
        label: d.label,
        data: d.data,
        stepped: d.step ? "before" : false,
        borderColor: colour,
        backgroundColor: d.fill || (d.type || spec.type) === "bar" ? colour + "99" : colour,
        borderDash: d.dashed ? [6, 4] : [],
        fill: !!d.fill,
        pointRadius: d.data && d.data.length > 60 ? 0 : 2,
        spanGaps: true,
        tension: 0,
      };
    });
    return {
      type: spec.type || "line",
      data: { labels: spec.labels || [], datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: !!spec.stacked, ticks: { maxTicksLimit: 10, autoSkip: true } },
          y: {
            stacked: !!spec.stacked,
            beginAtZero: true,
            title: { display: !!spec.y_label, text: spec.y_label || "" },
          },
        },
        plugins: { legend: { display: datasets.length > 1 } },
      },
    };
  }

  function mark(canvas, spec) {
    canvas.setAttribute("data-points", String(pointsOf(spec)));
    canvas.setAttribute("data-rendered", "true");
  }

  function draw(canvas, spec) {
    var chart = window.Chart.getChart(canvas);
    if (chart) {
      var fresh = config(spec);
      chart.data.labels = fresh.data.labels;
      chart.data.datasets = fresh.data.datasets;
      chart.update();
    } else {
      new window.Chart(canvas, config(spec));
    }
    mark(canvas, spec);
  }

  function refresh(canvas) {
    var url = canvas.getAttribute("data-chart-url");
    // Marked as a background refresh: a page left open is not activity (the idle session timeout).
    fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "HX-Request": "true", "X-Background-Refresh": "1" },
    })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (spec) {
        if (spec) {
          draw(canvas, spec);
        }
      })
      .catch(function () {});
  }

  function specOf(canvas) {
    if (canvas.hasAttribute("data-chart-spec")) {
      return JSON.parse(canvas.getAttribute("data-chart-spec"));
    }
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    return source ? JSON.parse(source.textContent) : null;
  }

  function setUp(canvas) {
    if (canvas.chartSetUp) {
      return;
    }
    var spec = specOf(canvas);
    if (!spec) {
      return;
    }
    canvas.chartSetUp = true;
    draw(canvas, spec);
    if (canvas.hasAttribute("data-chart-url")) {
      var every = parseInt(canvas.getAttribute("data-chart-refresh") || "5", 10);
      var timer = window.setInterval(function () {
        if (!canvas.isConnected) {
          window.clearInterval(timer);
          var gone = window.Chart.getChart(canvas);
          if (gone) {
            gone.destroy();
          }
          return;
        }
        refresh(canvas);
      }, Math.max(every, 1) * 1000);
    }
  }

  function start(root) {
    if (!window.Chart || !root || !root.querySelectorAll) {
      return;
    }
    if (root.matches && root.matches("canvas[data-chart]")) {
      setUp(root);
    }
    root.querySelectorAll("canvas[data-chart]").forEach(setUp);
  }

  function startAll() {
    start(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
  document.addEventListener("htmx:load", function (event) {
    start(event.detail && event.detail.elt);
  });
})();
