import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failedTests, formatResults, parseGoTestOutput, runExpression, withReruns } from './results.ts';

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
  assert.deepEqual(parseGoTestOutput(output, 'default'), [
    { suite: 'default', name: 'TestHostRouting', result: 'PASS', seconds: 12.34 },
    { suite: 'default', name: 'TestGRPC', result: 'FAIL', seconds: 60.5 },
    { suite: 'default', name: 'TestSomething', result: 'SKIP', seconds: 0 },
  ]);
});

test('one table for several suites: a header, the suite of each row, aligned columns', () => {
  const observability = '--- PASS: TestOtelTracing (20.00s)\n';
  assert.equal(
    formatResults([
      ...parseGoTestOutput(output, 'default'),
      ...parseGoTestOutput(observability, 'observability'),
    ]),
    'suite          test             result  seconds\n' +
      '-------------  ---------------  ------  -------\n' +
      'default        TestHostRouting  PASS       12.3\n' +
      'default        TestGRPC         FAIL       60.5\n' +
      'default        TestSomething    SKIP        0.0\n' +
      'observability  TestOtelTracing  PASS       20.0\n',
  );
});

test('a failed test is run again once; the table marks its row, and a second failure stays a failure', () => {
  const first = parseGoTestOutput(output, 'default');
  assert.deepEqual(failedTests(first), ['TestGRPC']);
  assert.equal(runExpression(['TestGRPC', 'TestA.b']), '^(TestGRPC|TestA\\.b)$');
  const passedAgain = withReruns(first, parseGoTestOutput('--- PASS: TestGRPC (3.00s)\n', 'default'));
  assert.deepEqual(passedAgain[1], {
    suite: 'default',
    name: 'TestGRPC',
    result: 'PASS',
    seconds: 3,
    rerun: true,
  });
  assert.match(formatResults(passedAgain), /TestGRPC +PASS\* +3\.0\n[\s\S]*\* failed on the first run/);
  const failedAgain = withReruns(first, parseGoTestOutput('--- FAIL: TestGRPC (4.00s)\n', 'default'));
  assert.equal(failedAgain[1]?.result, 'FAIL');
  assert.deepEqual(withReruns(first, []), first, 'a rerun that did not run keeps the failure');
});
