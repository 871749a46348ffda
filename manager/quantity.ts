// Kubernetes resource quantities ("100m", "1.5", "128Mi", "1e3"), read strictly enough to reject
// what the API server would reject and to compare two of them (a request above its limit, or a
// live value that differs from the rendered one only in spelling, such as "0.5" and "500m").

const quantityPattern = /^(\+?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][-+]?\d+)?$/;

const suffixFactor: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a quantity in base units, or undefined when it is not a valid quantity. */
export function parseQuantity(text: string): number | undefined {
  const m = quantityPattern.exec(text.trim());
  if (!m) return undefined;
  const number = Number(m[1]);
  const suffix = m[2] ?? '';
  if (suffix === '') return number;
  if (/^[eE]/.test(suffix)) return number * 10 ** Number(suffix.slice(1));
  return number * (suffixFactor[suffix] ?? Number.NaN);
}

/** True when both are valid quantities of the same value ("1" and "1000m"). */
export function sameQuantity(a: string | number | undefined, b: string | number | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseQuantity(String(a));
  const y = parseQuantity(String(b));
  return x !== undefined && y !== undefined && Math.abs(x - y) <= Math.abs(x) * 1e-9;
}
