// Structured logs for every service: one JSON object per line on stdout (winston), with the
// component name on every entry. Level and format come from upstream's zap flags or from env.
import winston from 'winston';

export type Logger = winston.Logger;
export type LogFormat = 'json' | 'console';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LogOptions {
  component: string;
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; tests pass a stream to read them back. Defaults to stdout. */
  stream?: NodeJS.WritableStream;
}

const levels: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

/**
 * Maps a zap-style level (`debug`, `info`, `error`, or a number where higher is more verbose,
 * as `--zap-log-level=5` means) or a winston level name to one of ours.
 */
export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase();
  if ((levels as readonly string[]).includes(v)) return v as LogLevel;
  if (v === 'warning') return 'warn';
  if (v === 'panic' || v === 'dpanic' || v === 'fatal') return 'error';
  const n = Number(v);
  if (Number.isInteger(n) && n > 0) return 'debug';
  throw new Error(`log level "${value}" is not one of debug, info, warn, error (or a verbosity number)`);
}

export function createLogger(opts: LogOptions): Logger {
  const format =
    opts.format === 'console'
      ? winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
            const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)}\t${level.toUpperCase()}\t${String(component)}\t${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(
          winston.format.timestamp(),
          winston.format.errors({ stack: true }),
          winston.format.json(),
        );
  return winston.createLogger({
    level: opts.level ?? 'info',
    defaultMeta: { component: opts.component },
    format,
    transports: [new winston.transports.Stream({ stream: opts.stream ?? process.stdout })],
  });
}

/** Turns anything thrown into log fields a person can read. */
export function errorFields(err: unknown): { error: string; stack?: string } {
  if (err instanceof Error)
    return err.stack ? { error: err.message, stack: err.stack } : { error: err.message };
  return { error: String(err) };
}
