import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatResults, parseGoTestOutput } from './results.ts';

const output = `=== RUN   TestHostRouting
=== PAUSE TestHostRouting
=== CONT  TestHostRouting
    host_routing_test.go:40: created namespace e2e-hostrouting-x
=== RUN   TestHostRouting/host_routing/routes_by_host
--- PASS: TestHostRouting (12.34s)
    --- PASS: TestHostRouting/host_routing/routes_by_host (1.00s)
--- FAIL: TestGRPC (60.50s)
    --- FAIL: TestGRPC/grpc/proxies_a_gRPC_unary_call (60.00s)
--- SKIP: TestSomething (0.00s)
FAIL
`;

test('one row per top-level test, subtests folded into their test', () => {
  assert.deepEqual(parseGoTestOutput(output), [
    { name: 'TestHostRouting', result: 'PASS', seconds: 12.34 },
    { name: 'TestGRPC', result: 'FAIL', seconds: 60.5 },
    { name: 'TestSomething', result: 'SKIP', seconds: 0 },
  ]);
});

test('the table has a header and aligned columns', () => {
  assert.equal(
    formatResults(parseGoTestOutput(output)),
    'test             result  seconds\n' +
      '---------------  ------  -------\n' +
      'TestHostRouting  PASS       12.3\n' +
      'TestGRPC         FAIL       60.5\n' +
      'TestSomething    SKIP        0.0\n',
  );
});
