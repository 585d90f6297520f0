// Time-series plots with uPlot (vendored): a chart keeps its samples and redraws
// when one is added. Samples come from informer state, never from extra API calls.

import uPlot from "../vendor/uplot-1.6.32/uPlot.esm.js";
import { h } from "./dom.js";

const COLORS = ["#2e7d32", "#f9a825", "#c62828", "#1565c0", "#6a1b9a", "#00838f", "#5d4037"];

export class TimeChart {
  /** series: names; width follows the container. */
  constructor(title, series, { height = 180 } = {}) {
    this.series = series;
    this.data = [[], ...series.map(() => [])];
    this.el = h("figure.chart", {}, h("figcaption", {}, title));
    const width = () => Math.max(260, (this.el.clientWidth || 600) - 8);
    this.plot = new uPlot({ width: width(), height, scales: { x: { time: true } },
      series: [{}, ...series.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2 }))],
      axes: [{ stroke: "currentColor" }, { stroke: "currentColor" }] }, this.data, this.el);
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: width(), height }));
    this.resize.observe(this.el);
  }
  add(values, at = Date.now() / 1000) {
    this.data[0].push(at);
    values.forEach((v, i) => this.data[i + 1].push(v));
    if (this.data[0].length > 3600) for (const column of this.data) column.shift();
    this.plot.setData(this.data);
    // at least a minute wide: one sample alone would otherwise span years
    this.plot.setScale("x", { min: Math.min(this.data[0][0], at - 60), max: at });
  }
  destroy() { this.resize.disconnect(); this.plot.destroy(); }
}

/** Page-lifetime history, kept across view changes (pods by phase since the page opened). */
export const history = { phases: { t: [], series: {} } };
