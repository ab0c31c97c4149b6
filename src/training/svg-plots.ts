// Inline SVG line and bar charts for the HTML report (no scripts, no external files).

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  /** Dashed line (baselines and reference lines). */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xMax?: number;
  yMax?: number;
  /** Draw the y = x diagonal (ROC, calibration). */
  diagonal?: boolean;
  /** Draw dots at each point. */
  markers?: boolean;
}

const WIDTH = 460;
const HEIGHT = 320;
const MARGIN = { left: 52, right: 150, top: 30, bottom: 44 };
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

export function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const fixed = (value: number) => (Math.round(value * 10) / 10).toString();

export function lineChart(series: Series[], options: ChartOptions): string {
  const xMax = options.xMax ?? Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p.x)));
  const yMax = options.yMax ?? Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p.y)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotWidth;
  const sy = (y: number) => MARGIN.top + plotHeight - (Math.min(y, yMax) / yMax) * plotHeight;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img">`);
  parts.push(`<title>${escapeXml(options.title)}</title>`);
  parts.push(`<text x="${WIDTH / 2 - MARGIN.right / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`);
  parts.push(axes(sx, sy, xMax, yMax, options));
  if (options.diagonal) {
    parts.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(Math.min(xMax, yMax))}" y2="${sy(Math.min(xMax, yMax))}" stroke="#aaa" stroke-dasharray="2,3"/>`);
  }
  series.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const path = s.points.map((p, i) => `${i === 0 ? "M" : "L"}${fixed(sx(p.x))},${fixed(sy(p.y))}`).join(" ");
    const dash = s.dashed ? ` stroke-dasharray="6,4"` : "";
    parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    if (options.markers) for (const p of s.points) parts.push(`<circle cx="${fixed(sx(p.x))}" cy="${fixed(sy(p.y))}" r="2.5" fill="${colour}"/>`);
    const legendY = MARGIN.top + 10 + index * 18;
    parts.push(`<line x1="${WIDTH - MARGIN.right + 10}" y1="${legendY}" x2="${WIDTH - MARGIN.right + 34}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${WIDTH - MARGIN.right + 40}" y="${legendY + 4}" font-size="12">${escapeXml(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

function axes(sx: (x: number) => number, sy: (y: number) => number, xMax: number, yMax: number, options: ChartOptions): string {
  const parts: string[] = [];
  parts.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(xMax)}" y2="${sy(0)}" stroke="#333"/>`);
  parts.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(0)}" y2="${sy(yMax)}" stroke="#333"/>`);
  for (let i = 0; i <= 5; i++) {
    const x = (xMax * i) / 5;
    const y = (yMax * i) / 5;
    parts.push(`<text x="${fixed(sx(x))}" y="${fixed(sy(0) + 16)}" text-anchor="middle" font-size="10">${tick(x)}</text>`);
    parts.push(`<text x="${fixed(sx(0) - 6)}" y="${fixed(sy(y) + 3)}" text-anchor="end" font-size="10">${tick(y)}</text>`);
  }
  parts.push(`<text x="${fixed((sx(0) + sx(xMax)) / 2)}" y="${fixed(sy(0) + 34)}" text-anchor="middle" font-size="12">${escapeXml(options.xLabel)}</text>`);
  const yMid = fixed((sy(0) + sy(yMax)) / 2);
  parts.push(`<text x="14" y="${yMid}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${yMid})">${escapeXml(options.yLabel)}</text>`);
  return parts.join("");
}

function tick(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Number(value.toPrecision(2)).toString();
}

/** Horizontal bars, one per label (segment sizes, churn rates). */
export function barChart(bars: { label: string; value: number }[], options: { title: string; format: (value: number) => string }): string {
  const rowHeight = 22;
  const height = 40 + bars.length * rowHeight;
  const labelWidth = 110;
  const barWidth = 260;
  const max = Math.max(1e-9, ...bars.map((bar) => bar.value));
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barWidth + 80}" height="${height}" role="img">`];
  parts.push(`<title>${escapeXml(options.title)}</title>`);
  parts.push(`<text x="4" y="18" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`);
  bars.forEach((bar, i) => {
    const y = 30 + i * rowHeight;
    const width = (bar.value / max) * barWidth;
    parts.push(`<text x="${labelWidth - 6}" y="${y + 14}" text-anchor="end" font-size="12">${escapeXml(bar.label)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 2}" width="${fixed(width)}" height="${rowHeight - 6}" fill="${COLOURS[i % COLOURS.length]}"/>`);
    parts.push(`<text x="${fixed(labelWidth + width + 4)}" y="${y + 14}" font-size="11">${escapeXml(options.format(bar.value))}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}
