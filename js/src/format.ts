/**
 * The twin of Python's `binderfed_sdk._format.format_bytes`, for the sizes the popup lists
 * (jest checks it against vectors made from the Python one: bytes-vectors.json). No
 * JupyterLab import: plain data in, text out.
 */

/** IEC units, largest first: name, size, decimals (GiB with one, smaller ones whole). */
const UNITS: readonly [string, number, number][] = [
  ['GiB', 2 ** 30, 1],
  ['MiB', 2 ** 20, 0],
  ['KiB', 2 ** 10, 0],
  ['B', 1, 0]
];

/**
 * `x` with `decimals` decimals, as Python's format writes it: correctly rounded, and an
 * exact half to even (`toFixed` rounds it away from zero: 1.25 would read 1.3, not 1.2).
 * A binary number is an exact half at `decimals` when 2^(decimals+1) * x is odd.
 */
function fixed(x: number, decimals: number): string {
  const doubled = x * 2 ** (decimals + 1); // exact: a power of two
  if (Number.isInteger(doubled) && Math.abs(doubled % 2) === 1) {
    const scaled = x * 10 ** decimals; // an exact half, small enough to be exact
    const floor = Math.floor(scaled);
    const even = floor % 2 === 0 ? floor : floor + 1;
    const text = (even / 10 ** decimals).toFixed(decimals);
    // Python keeps the sign of a negative number rounded to zero ("-0")
    return x < 0 && !text.startsWith('-') ? `-${text}` : text;
  }
  return x.toFixed(decimals);
}

/** `2.0 GiB`, `812 MiB`, `12 KiB`, `300 B`; "?" when unknown. */
export function formatBytes(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return '?';
  }
  const [name, size, decimals] =
    UNITS.find(([, size]) => Math.abs(value) >= size) ??
    UNITS[UNITS.length - 1];
  return `${fixed(value / size, decimals)} ${name}`;
}
