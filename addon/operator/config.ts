// The operator's configuration: upstream's flags and env vars, with upstream's defaults
// (reference: upstream operator/main.go). Every problem is reported at once by ConfigError.
import { readFileSync } from 'node:fs';
import { ConfigError, EnvReader, parseFlags } from '../shared/config.ts';
import { parseLogLevel, type LogFormat, type LogLevel } from '../shared/log.ts';

export const flagSpec = {
  'metrics-bind-address': 'string',
  'metrics-secure': 'boolean',
  'metrics-auth': 'boolean',
  'metrics-cert-dir': 'string',
  'health-probe-bind-address': 'string',
  'leader-elect': 'boolean',
  'profiling-bind-address': 'string',
  'zap-log-level': 'string',
  'zap-encoder': 'string',
  'zap-time-encoding': 'string',
  'zap-devel': 'boolean',
  'zap-stacktrace-level': 'string',
  kubeconfig: 'string',
} as const;

export interface BindAddress {
  host: string;
  port: number;
}

export interface OperatorConfig {
  metrics: BindAddress | undefined;
  probes: BindAddress | undefined;
  leaderElect: boolean;
  /** Lease name, as upstream: http-add-on.keda.sh. */
  leaseName: string;
  leaseNamespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  externalScalerService: string;
  externalScalerPort: number;
  /** The operator's own namespace (used in scalerAddress and for the Lease). */
  namespace: string;
  /** Empty: watch all namespaces. */
  watchNamespace: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  kubeconfig: string | undefined;
}

/** Go's ":8080" / "127.0.0.1:8080" / "0" (disabled) bind address syntax. */
export function parseBindAddress(flag: string, value: string, problems: string[]): BindAddress | undefined {
  if (value === '0') return undefined;
  const m = /^(.*):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    problems.push(`--${flag}="${value}" is not valid: expected host:port such as :8080, or 0 to disable`);
    return undefined;
  }
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export function readOperatorConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  readNamespaceFile: () => string | undefined = () => {
    try {
      return readFileSync(serviceAccountNamespaceFile, 'utf8').trim();
    } catch {
      return undefined;
    }
  },
): { config: OperatorConfig; warnings: string[] } {
  const { flags, positionals } = parseFlags(argv, flagSpec);
  const problems: string[] = [];
  const warnings: string[] = [];
  if (positionals.length > 0) problems.push(`unexpected arguments: ${positionals.join(' ')}`);
  const str = (name: keyof typeof flagSpec, fallback: string): string => {
    const v = flags[name];
    return typeof v === 'string' ? v : fallback;
  };
  // Secure metrics need controller-runtime's TLS and authn/authz filter; we do not have them and
  // will not pretend to: refuse rather than serve plain HTTP when HTTPS was asked for.
  if (flags['metrics-secure'] === true)
    problems.push(
      '--metrics-secure is not supported: serve metrics over HTTP (the default) and restrict access with a NetworkPolicy',
    );
  if (flags['metrics-auth'] === true)
    problems.push(
      '--metrics-auth is not supported: remove the flag and restrict access to the metrics port with a NetworkPolicy',
    );
  if (flags['profiling-bind-address'] !== undefined)
    warnings.push('--profiling-bind-address is accepted but ignored (no pprof in Node)');
  if (flags['metrics-cert-dir'] !== undefined)
    warnings.push('--metrics-cert-dir is ignored (secure metrics are not supported)');
  const metrics = parseBindAddress('metrics-bind-address', str('metrics-bind-address', ':8080'), problems);
  const probes = parseBindAddress(
    'health-probe-bind-address',
    str('health-probe-bind-address', ':8081'),
    problems,
  );

  const e = new EnvReader(env);
  const serviceName = e.alias(
    'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE',
    'KEDAHTTP_OPERATOR_EXTERNAL_SCALER_SERVICE',
  );
  const portName = e.alias(
    'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT',
    'KEDAHTTP_OPERATOR_EXTERNAL_SCALER_PORT',
  );
  const externalScalerService = e.required(serviceName);
  const externalScalerPort = e.port(portName, 8091);
  const namespace = e.string('KEDA_HTTP_OPERATOR_NAMESPACE', '');
  const watchNamespace = e.string('KEDA_HTTP_OPERATOR_WATCH_NAMESPACE', '');
  const leaseDurationMs = e.duration('KEDA_HTTP_OPERATOR_LEADER_ELECTION_LEASE_DURATION', 15_000);
  const renewDeadlineMs = e.duration('KEDA_HTTP_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE', 10_000);
  const retryPeriodMs = e.duration('KEDA_HTTP_OPERATOR_LEADER_ELECTION_RETRY_PERIOD', 2_000);
  if (renewDeadlineMs >= leaseDurationMs)
    e.problem(
      'KEDA_HTTP_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE must be shorter than KEDA_HTTP_OPERATOR_LEADER_ELECTION_LEASE_DURATION',
    );
  let logLevel: LogLevel = 'info';
  try {
    logLevel = parseLogLevel(str('zap-log-level', e.string('LOG_LEVEL', 'info')));
  } catch (err) {
    problems.push(`--zap-log-level: ${(err as Error).message}`);
  }
  if (flags['zap-devel'] === true && flags['zap-log-level'] === undefined) logLevel = 'debug';
  const encoder = str(
    'zap-encoder',
    e.string('LOG_FORMAT', flags['zap-devel'] === true ? 'console' : 'json'),
  );
  if (encoder !== 'json' && encoder !== 'console')
    problems.push(`--zap-encoder="${encoder}" is not valid: expected json or console`);

  const leaderElect = flags['leader-elect'] === true;
  const leaseNamespace = namespace || readNamespaceFile() || '';
  if (leaderElect && leaseNamespace === '')
    problems.push(
      '--leader-elect needs a namespace for its Lease: set KEDA_HTTP_OPERATOR_NAMESPACE (the manifest sets it from metadata.namespace)',
    );
  warnings.push(...e.warnings);
  try {
    e.done();
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else throw err;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const kubeconfig = flags.kubeconfig;
  return {
    config: {
      metrics,
      probes,
      leaderElect,
      leaseName: 'http-add-on.keda.sh',
      leaseNamespace,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
      externalScalerService,
      externalScalerPort,
      namespace,
      watchNamespace,
      logLevel,
      logFormat: encoder === 'console' ? 'console' : 'json',
      kubeconfig: typeof kubeconfig === 'string' ? kubeconfig : undefined,
    },
    warnings,
  };
}

/** "<service>.<namespace>:<port>", exactly as upstream builds the trigger's scalerAddress. */
export function scalerAddress(
  config: Pick<OperatorConfig, 'externalScalerService' | 'namespace' | 'externalScalerPort'>,
): string {
  return `${config.externalScalerService}.${config.namespace}:${config.externalScalerPort}`;
}
