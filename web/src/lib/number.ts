// How a stored number reads: whole numbers as they are, fractions to at most four decimals (six
// significant digits for tiny ones), so 0.6379310344827587 reads 0.6379; the exact value stays
// in the tooltip wherever it is shown.

export function formatDecimal(value: number): string {
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs < 0.001) return String(Number(value.toPrecision(3)));
  return String(Number(value.toFixed(4)));
}
