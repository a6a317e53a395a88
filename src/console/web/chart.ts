/// <reference lib="dom" />
/** Two small SVG charts of the last hour: fires per minute as bars, lag p50/p99 as lines. */

import type { Point } from "../contract.ts";
import { s } from "./dom.ts";
import { lag } from "./format.ts";

const W = 600;
const H = 150;
const PAD = { left: 52, right: 8, top: 10, bottom: 22 };

function frame(title: string, max: number, label: (v: number) => string, body: SVGElement[]): SVGElement {
  const innerH = H - PAD.top - PAD.bottom;
  const grid = [0, 0.5, 1].map((f) => {
    const y = PAD.top + innerH * (1 - f);
    return [
      s("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }),
      s("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, label(max * f)),
    ];
  });
  const ticks = [
    ["-60m", PAD.left],
    ["-30m", PAD.left + (W - PAD.left - PAD.right) / 2],
    ["now", W - PAD.right],
  ].map(([text, x]) =>
    s("text", { x, y: H - 6, class: "axis", "text-anchor": text === "now" ? "end" : "middle" }, text as string),
  );
  return s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart", preserveAspectRatio: "none" },
    s("title", {}, title),
    grid.flat(),
    body,
    ticks,
  );
}

const x = (i: number, n: number) => PAD.left + ((W - PAD.left - PAD.right) * i) / n;
const y = (v: number, max: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / max);

export function firesChart(points: readonly Point[]): SVGElement {
  const max = Math.max(1, ...points.map((p) => p.fires));
  const n = points.length;
  const width = Math.max(1, (W - PAD.left - PAD.right) / n - 2);
  const bars = points
    .filter((p) => p.fires > 0)
    .map((p) => {
      const i = points.indexOf(p);
      return s("rect", {
        x: x(i, n) + 1,
        y: y(p.fires, max),
        width,
        height: y(0, max) - y(p.fires, max),
        class: "bar",
      });
    });
  const total = points.reduce((sum, p) => sum + p.fires, 0);
  return frame(`Fires per minute, last hour: ${total} in all`, max, (v) => String(Math.round(v)), bars);
}

export function lagChart(points: readonly Point[]): SVGElement {
  const max = Math.max(1, ...points.map((p) => p.p99Ms ?? 0));
  const n = points.length;
  const line = (pick: (p: Point) => number | null, cls: string) => {
    const segments: string[] = [];
    let pen = "M";
    points.forEach((p, i) => {
      const v = pick(p);
      if (v === null) {
        pen = "M";
        return;
      }
      segments.push(`${pen}${(x(i, n) + x(i + 1, n)) / 2},${y(v, max)}`);
      pen = "L";
    });
    const dots = points.flatMap((p, i) => {
      const v = pick(p);
      return v === null ? [] : [s("circle", { cx: (x(i, n) + x(i + 1, n)) / 2, cy: y(v, max), r: 2, class: cls })];
    });
    return [s("path", { d: segments.join(" ") || "M0,0", class: `${cls} line` }), ...dots];
  };
  const latest = [...points].reverse().find((p) => p.p50Ms !== null);
  const title = latest
    ? `Fire lag per minute, last hour: latest p50 ${lag(latest.p50Ms)}, p99 ${lag(latest.p99Ms)}`
    : "Fire lag per minute, last hour: no fires yet";
  return frame(title, max, (v) => lag(v), [...line((p) => p.p99Ms, "p99"), ...line((p) => p.p50Ms, "p50")]);
}
