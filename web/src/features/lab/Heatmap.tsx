// A 2-parameter sweep's heatmap: one cell per combination, coloured from worst (red) to best
// (green) by the chosen figure (net PnL around 0); a cell without a figure (skipped as invalid,
// not finished, no losing trade for a profit factor) is hatched grey and says why on hover.
import { Link } from "@tanstack/react-router";
import { cellScore, FIGURES, type FigureKey, type Heatmap as Grid } from "./sweep";
import { pct, ratio, signedMoney } from "./format";

export function figureText(key: FigureKey, v: number | null): string {
  if (v === null) return "—";
  switch (key) {
    case "net_pnl":
      return signedMoney(v);
    case "max_drawdown_pct":
      return pct(v, 2);
    case "trades":
      return String(v);
    default:
      return ratio(v);
  }
}

function background(score: number): string {
  const token = score >= 0 ? "--tp-ok" : "--tp-bad";
  const share = Math.round(Math.min(1, Math.abs(score)) * 70) + 8;
  return `color-mix(in srgb, var(${token}) ${share}%, transparent)`;
}

export function Heatmap({ grid, figure }: { grid: Grid; figure: FigureKey }) {
  const label = FIGURES.find((f) => f.key === figure)?.label ?? figure;
  return (
    <div className="relative overflow-x-auto" tabIndex={0}>
      <table aria-label={`Heatmap of ${label}`} className="border-separate border-spacing-1 text-xs" data-testid="sweep-heatmap">
        <thead>
          <tr>
            <th className="px-2 text-left font-medium text-muted">
              {grid.y.name} ↓ / {grid.x.name} →
            </th>
            {grid.x.values.map((xv) => (
              <th key={String(xv)} scope="col" className="px-2 font-mono font-medium">
                {String(xv)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {grid.y.values.map((yv, yi) => (
            <tr key={String(yv)}>
              <th scope="row" className="px-2 text-right font-mono font-medium">
                {String(yv)}
              </th>
              {grid.x.values.map((xv, xi) => {
                const v = grid.cells[yi]![xi]!;
                const row = grid.rows[yi]![xi]!;
                const name = `${grid.x.name}=${String(xv)}, ${grid.y.name}=${String(yv)}`;
                if (v === null || grid.min === null || grid.max === null) {
                  const why = !row ? "not run (an invalid combination, or not sampled)" : "no figure (not finished, or undefined for this run)";
                  return (
                    <td key={String(xv)} title={`${name}: ${why}`} className="h-9 min-w-16 rounded bg-[repeating-linear-gradient(45deg,var(--tp-line)_0_4px,transparent_4px_8px)] text-center text-muted">
                      —
                    </td>
                  );
                }
                const text = figureText(figure, v);
                const id = row?.backtest_ids[0];
                return (
                  <td key={String(xv)} title={`${name}: ${label} ${text}`} style={{ background: background(cellScore(v, grid.min, grid.max, figure)) }} className="h-9 min-w-16 rounded px-2 text-center font-medium tabular-nums">
                    {id ? (
                      <Link to="/lab/backtests/$backtestId" params={{ backtestId: id }} className="hover:underline" aria-label={`${name}: ${label} ${text}`}>
                        {text}
                      </Link>
                    ) : (
                      text
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-1 text-xs text-muted">
        Green is better, red worse{figure === "net_pnl" ? " (scaled around $0: a loss is always red)" : figure === "max_drawdown_pct" ? " (a smaller drawdown is greener)" : ""}; a cell opens its backtest.
      </p>
    </div>
  );
}
