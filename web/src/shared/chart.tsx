import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const AXIS_FONT = '12px -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif';

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  /** The right-hand axis, for a figure of another unit. */
  right?: boolean;
  format?: (value: number) => string;
}

/**
 * A time series on canvas (uPlot) over the days from `from` up to `to`: x is each bucket's first day. It fills its
 * container's width and redraws when that changes. A click picks the bucket under the cursor (`pick`, with its
 * index); the same is offered to the keyboard by the page (a table of the buckets).
 */
export function TimeChart({ days, series, label, from, to, pick }: { days: string[]; series: Series[]; label: string; from: string; to: string; pick?: (index: number) => void }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const hasRight = series.some((one) => one.right);
    const plot = new uPlot(
      {
        width: element.clientWidth || 600,
        height: 260,
        // The x axis spans the range asked for, not only the buckets that have usage.
        scales: { x: { time: true, range: () => [Date.parse(`${from}T00:00:00Z`) / 1000, Date.parse(`${to}T00:00:00Z`) / 1000] } },
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
        series: [
          {},
          ...series.map((one) => ({
            label: one.label,
            stroke: one.color,
            width: 2,
            scale: one.right ? "right" : "y",
            value: (_: uPlot, value: number | null) => (value === null ? "—" : one.format ? one.format(value) : String(value)),
          })),
        ],
        // The canvas does not inherit the page's font: the axes name it (uPlot's default reads as serif where system-ui is missing).
        axes: [
          { font: AXIS_FONT },
          { scale: "y", font: AXIS_FONT },
          ...(hasRight
            ? [{ scale: "right", side: 1, font: AXIS_FONT, grid: { show: false }, values: (_: uPlot, ticks: number[]) => ticks.map((tick) => series.find((one) => one.right)?.format?.(tick) ?? String(tick)) }]
            : []),
        ],
      },
      [days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000), ...series.map((one) => one.values)],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth || 600, height: 260 }));
    resize.observe(element);
    const click = () => {
      if (pick && plot.cursor.idx !== null && plot.cursor.idx !== undefined) pick(plot.cursor.idx);
    };
    plot.over.addEventListener("click", click);
    if (pick) plot.over.style.cursor = "pointer";
    return () => {
      plot.over.removeEventListener("click", click);
      resize.disconnect();
      plot.destroy();
    };
  }, [days, series, from, to, pick]);
  return <div className="chart" ref={host} role="img" aria-label={label} />;
}
