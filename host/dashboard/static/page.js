// One page shell for every route (index.html): the body is this route's
// template, then the route's scripts load in order.
"use strict";
(function () {
  const cell = location.pathname.indexOf("/cells/") === 0;
  document.title = cell ? "Platewise cell" : "Platewise fleet";
  document.body.replaceChildren(document.getElementById(cell ? "cell-page" : "fleet-page").content.cloneNode(true));
  const scripts = cell ? ["vendor/uPlot.iife.min.js", "common.js", "charts.js", "cell.js", "commands.js"] : ["common.js", "fleet.js"];
  (function next(i) {
    if (i === scripts.length) return;
    const s = document.createElement("script");
    s.src = "/static/" + scripts[i];
    s.onload = () => next(i + 1);
    document.head.appendChild(s);
  })(0);
})();
