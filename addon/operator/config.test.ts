import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../shared/config.ts';
import { parseBindAddress, readOperatorConfig, scalerAddress } from './config.ts';

const base = { KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE: 'keda-add-ons-http-external-scaler' };
const noFile = () => undefined;

test("upstream's defaults", () => {
  const { config } = readOperatorConfig([], base, noFile);
  assert.deepEqual(config.metrics, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(config.probes, { host: '0.0.0.0', port: 8081 });
  assert.equal(config.externalScalerPort, 8091);
  assert.equal(config.leaderElect, false);
  assert.equal(config.leaseName, 'http-add-on.keda.sh');
  assert.deepEqual(
    [config.leaseDurationMs, config.renewDeadlineMs, config.retryPeriodMs],
    [15_000, 10_000, 2_000],
  );
  assert.equal(config.watchNamespace, '');
  assert.equal(config.logFormat, 'json');
  assert.equal(
    scalerAddress({ ...config, namespace: 'keda', externalScalerPort: 9090 }),
    'keda-add-ons-http-external-scaler.keda:9090',
  );
});

test('flags and env are read with upstream names', () => {
  const { config } = readOperatorConfig(
    [
      '--leader-elect',
      '--metrics-bind-address=127.0.0.1:9000',
      '--health-probe-bind-address',
      ':9001',
      '--zap-log-level=debug',
      '--zap-encoder=console',
    ],
    {
      ...base,
      KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT: '9090',
      KEDA_HTTP_OPERATOR_NAMESPACE: 'keda',
      KEDA_HTTP_OPERATOR_WATCH_NAMESPACE: 'apps',
      KEDA_HTTP_OPERATOR_LEADER_ELECTION_LEASE_DURATION: '30s',
      KEDA_HTTP_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE: '20s',
      KEDA_HTTP_OPERATOR_LEADER_ELECTION_RETRY_PERIOD: '500ms',
    },
    noFile,
  );
  assert.equal(config.leaderElect, true);
  assert.equal(config.leaseNamespace, 'keda');
  assert.deepEqual(config.metrics, { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(config.probes, { host: '0.0.0.0', port: 9001 });
  assert.equal(config.logLevel, 'debug');
  assert.equal(config.logFormat, 'console');
  assert.equal(config.watchNamespace, 'apps');
  assert.deepEqual(
    [config.leaseDurationMs, config.renewDeadlineMs, config.retryPeriodMs],
    [30_000, 20_000, 500],
  );
});

test('deprecated KEDAHTTP_ aliases still work, with a warning', () => {
  const { config, warnings } = readOperatorConfig(
    [],
    { KEDAHTTP_OPERATOR_EXTERNAL_SCALER_SERVICE: 'old', KEDAHTTP_OPERATOR_EXTERNAL_SCALER_PORT: '7000' },
    noFile,
  );
  assert.equal(config.externalScalerService, 'old');
  assert.equal(config.externalScalerPort, 7000);
  assert.ok(warnings.some((w) => w.includes('KEDAHTTP_OPERATOR_EXTERNAL_SCALER_SERVICE is deprecated')));
});

test('the Lease namespace falls back to the service account namespace', () => {
  const { config } = readOperatorConfig(['--leader-elect'], base, () => 'from-file');
  assert.equal(config.leaseNamespace, 'from-file');
});

test('every problem is reported at once', () => {
  assert.throws(
    () =>
      readOperatorConfig(
        ['--leader-elect', '--metrics-secure', '--metrics-bind-address=nonsense'],
        {
          KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT: 'x',
          KEDA_HTTP_OPERATOR_LEADER_ELECTION_RENEW_DEADLINE: '20s',
        },
        noFile,
      ),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join('\n');
      for (const part of [
        '--metrics-secure is not supported',
        '--metrics-bind-address="nonsense"',
        'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE is required',
        'KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT="x"',
        'RENEW_DEADLINE must be shorter',
        '--leader-elect needs a namespace',
      ])
        assert.ok(text.includes(part), `missing "${part}" in:\n${text}`);
      return true;
    },
  );
  assert.throws(() => readOperatorConfig(['--no-such-flag'], base, noFile), /unknown flag --no-such-flag/);
});

test('bind addresses: 0 disables, IPv6 brackets are stripped', () => {
  const problems: string[] = [];
  assert.equal(parseBindAddress('x', '0', problems), undefined);
  assert.deepEqual(parseBindAddress('x', '[::1]:80', problems), { host: '::1', port: 80 });
  assert.deepEqual(problems, []);
});
