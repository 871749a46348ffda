// The one env/flag parser every service uses. It collects every problem before failing, so a person
// fixing a Deployment sees all of them at once, each naming the variable and what it expected.

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go `time.ParseDuration` string ("1m", "500ms", "1h2m3s", "-1.5h", "0") into milliseconds.
 * Upstream's env vars and CRD fields use this format, so we accept exactly what Go accepts.
 */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(s);
  if (!m) throw new Error(`"${text}" is not a duration (use Go syntax such as 500ms, 30s, 1m, 1h2m3s)`);
  let total = 0;
  for (const part of (m[2] ?? '').matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (unitMs[part[2] ?? ''] ?? 0);
  }
  return m[1] === '-' ? -total : total;
}

/** Formats milliseconds the way Go prints a time.Duration (1m0s, 500ms, 1h0m0s). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = `${Number((rest / 1000).toFixed(9))}s`;
  if (h > 0) return `${sign}${h}h${m}m${s}`;
  if (m > 0) return `${sign}${m}m${s}`;
  return `${sign}${s}`;
}

type Source = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed values from an env-like map. Every getter records a problem instead of throwing;
 * call `done()` once all values are read to throw one ConfigError listing them all.
 */
export class EnvReader {
  readonly #source: Source;
  readonly #problems: string[] = [];
  readonly #warnings: string[] = [];

  constructor(source: Source = process.env) {
    this.#source = source;
  }

  /** The raw value, or undefined when unset or empty (Go's os.Getenv treats both the same). */
  raw(name: string): string | undefined {
    const v = this.#source[name];
    return v === undefined || v === '' ? undefined : v;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  required(name: string): string {
    const v = this.raw(name);
    if (v === undefined) {
      this.#problems.push(`${name} is required but not set`);
      return '';
    }
    return v;
  }

  int(name: string, fallback: number, opts: { min?: number; max?: number } = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v.trim());
    if (!Number.isInteger(n)) return this.#bad(name, v, 'a whole number', fallback);
    if (opts.min !== undefined && n < opts.min)
      return this.#bad(name, v, `a number >= ${opts.min}`, fallback);
    if (opts.max !== undefined && n > opts.max)
      return this.#bad(name, v, `a number <= ${opts.max}`, fallback);
    return n;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 0, max: 65535 });
  }

  requiredPort(name: string): number {
    if (this.raw(name) === undefined) {
      this.#problems.push(`${name} is required but not set (a TCP port, 1-65535)`);
      return 0;
    }
    return this.port(name, 0);
  }

  /** Booleans as Go's strconv.ParseBool reads them (1, t, T, TRUE, true, True, 0, f, ...). */
  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
    return this.#bad(name, v, 'true or false', fallback);
  }

  /** A Go duration string, returned in milliseconds. */
  duration(name: string, fallbackMs: number, opts: { allowNegative?: boolean } = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallbackMs;
    try {
      const ms = parseGoDuration(v);
      if (ms < 0 && !opts.allowNegative) return this.#bad(name, v, 'a duration >= 0', fallbackMs);
      return ms;
    } catch {
      return this.#bad(name, v, 'a duration such as 500ms, 30s or 1m', fallbackMs);
    }
  }

  /** A comma-separated list; blanks are dropped. */
  list(name: string): string[] {
    const v = this.raw(name);
    if (v === undefined) return [];
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  oneOf<T extends string>(
    name: string,
    allowed: readonly T[],
    fallback: T,
    opts: { caseInsensitive?: boolean } = {},
  ): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const found = allowed.find((a) => (opts.caseInsensitive ? a.toLowerCase() === v.toLowerCase() : a === v));
    return found ?? this.#bad(name, v, `one of ${allowed.join(', ')}`, fallback);
  }

  /**
   * A deprecated variable: when set and `newName` is not, its value is used (and a warning kept).
   * Returns the name to read.
   */
  alias(newName: string, deprecatedName: string): string {
    if (this.raw(newName) === undefined && this.raw(deprecatedName) !== undefined) {
      this.#warnings.push(`${deprecatedName} is deprecated; use ${newName}`);
      return deprecatedName;
    }
    return newName;
  }

  problem(message: string): void {
    this.#problems.push(message);
  }

  warn(message: string): void {
    this.#warnings.push(message);
  }

  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** Throws a ConfigError naming every problem found so far. */
  done(): void {
    if (this.#problems.length > 0) throw new ConfigError(this.#problems);
  }

  #bad<T>(name: string, value: string, expected: string, fallback: T): T {
    this.#problems.push(`${name}="${value}" is not valid: expected ${expected}`);
    return fallback;
  }
}

/**
 * Command-line flags in Go's style: `--name=value`, `--name value`, `-name value`, and bare `--flag`
 * for booleans. Unknown flags are an error, so a typo is never silently ignored.
 */
export function parseFlags(
  argv: readonly string[],
  spec: Readonly<Record<string, 'string' | 'boolean'>>,
): { flags: Record<string, string | boolean>; positionals: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const kind = spec[name];
    if (kind === undefined) {
      problems.push(
        `unknown flag --${name} (known: ${
          Object.keys(spec)
            .map((k) => `--${k}`)
            .join(', ') || 'none'
        })`,
      );
      continue;
    }
    if (kind === 'boolean') {
      const v = eq === -1 ? 'true' : body.slice(eq + 1);
      if (v !== 'true' && v !== 'false') problems.push(`flag --${name} takes true or false, got "${v}"`);
      flags[name] = v === 'true';
    } else if (eq !== -1) {
      flags[name] = body.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) problems.push(`flag --${name} needs a value`);
      else flags[name] = next;
      i++;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { flags, positionals };
}
