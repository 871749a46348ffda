// Start-up pieces every long-running service shares: the logger from upstream's zap flags (or env)
// and Go-style bind addresses (":8080", "127.0.0.1:9090"). The kubeconfig loader is in
// kubeconfig.ts, so a service running from a file never loads the Kubernetes client.
import { ConfigError, parseFlags } from './config.ts';
import { createLogger, parseLogLevel, type LogFormat, type Logger } from './log.ts';

/** Flags every service accepts, in parseFlags' spec format (upstream's zap flags plus kubeconfig). */
export const commonFlagSpec = {
  kubeconfig: 'string',
  'zap-log-level': 'string',
  'zap-encoder': 'string',
  'zap-time-encoding': 'string',
  'zap-devel': 'boolean',
  'zap-stacktrace-level': 'string',
} as const;

type Flags = Readonly<Record<string, string | boolean>>;

/** Level: --zap-log-level, else LOG_LEVEL, else info. Format: --zap-encoder, else LOG_FORMAT, else json. */
export function loggerFromFlags(
  component: string,
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): Logger {
  const problems: string[] = [];
  let level: ReturnType<typeof parseLogLevel> = 'info';
  const levelText = typeof flags['zap-log-level'] === 'string' ? flags['zap-log-level'] : env.LOG_LEVEL;
  try {
    level = parseLogLevel(levelText, flags['zap-devel'] === true ? 'debug' : 'info');
  } catch (err) {
    problems.push(String((err as Error).message));
  }
  const formatText =
    (typeof flags['zap-encoder'] === 'string' ? flags['zap-encoder'] : env.LOG_FORMAT) ?? 'json';
  if (formatText !== 'json' && formatText !== 'console') {
    problems.push(`log format "${formatText}" is not json or console (--zap-encoder or LOG_FORMAT)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return createLogger({ component, level, format: formatText as LogFormat });
}

/** Parses a Go-style listen address: ":8080" (all interfaces), "127.0.0.1:9090", "0" or "" (off). */
export function parseBindAddress(flag: string, value: string): { host: string; port: number } | undefined {
  if (value === '' || value === '0') return undefined;
  const i = value.lastIndexOf(':');
  const host = i <= 0 ? '0.0.0.0' : value.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(i === -1 ? value : value.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError([`--${flag}="${value}" is not a listen address such as :8080 or 127.0.0.1:8080`]);
  }
  return { host, port };
}

/**
 * The start of every service's main(): `-h`/`--help` prints the usage (undefined is returned),
 * flags are parsed (unknown flags and stray arguments are errors), and the logger is made.
 */
export function serviceArgs(
  component: string,
  argv: readonly string[],
  spec: Readonly<Record<string, 'string' | 'boolean'>>,
  usage: string,
): { flags: Record<string, string | boolean>; log: Logger } | undefined {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage);
    return undefined;
  }
  const { flags, positionals } = parseFlags(argv, spec);
  if (positionals.length > 0) {
    throw new ConfigError([`unexpected arguments: ${positionals.join(' ')}\n\n${usage}`]);
  }
  return { flags, log: loggerFromFlags(component, flags) };
}
