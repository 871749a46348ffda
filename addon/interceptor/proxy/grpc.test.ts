// gRPC end to end through the interceptor: a real @grpc/grpc-js server behind a Service port with
// appProtocol kubernetes.io/h2c, a real grpc-js client speaking h2c to the plain proxy port.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  endpointSlice,
  interceptorRoute,
  service,
  startTestInterceptor,
  type TestInterceptor,
} from '../testing/harness.ts';

const proto = `syntax = "proto3";
package echo;
message Msg { string text = 1; }
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc Chat (stream Msg) returns (stream Msg);
}`;

type Msg = { text: string };
type EchoClient = grpc.Client & {
  Unary(m: Msg, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, r?: Msg) => void): void;
  Chat(): grpc.ClientDuplexStream<Msg, Msg>;
};

let server: grpc.Server;
let ic: TestInterceptor;
let dir: string;
let Echo: grpc.ServiceClientConstructor;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'grpc-test-'));
  await writeFile(join(dir, 'echo.proto'), proto);
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'echo.proto'))) as unknown as {
    echo: { Echo: grpc.ServiceClientConstructor };
  };
  Echo = def.echo.Echo;
  server = new grpc.Server();
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.text === 'fail') {
        cb({ code: grpc.status.FAILED_PRECONDITION, details: 'asked to fail' });
        return;
      }
      cb(null, { text: `unary:${call.request.text}` });
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ text: `chat:${m.text}` }));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  ic = await startTestInterceptor([
    interceptorRoute('grpc', {
      target: { service: 'grpc', portName: 'grpc' },
      rules: [{ hosts: ['grpc.test'] }],
    }),
    service('grpc', [{ name: 'grpc', port: 50051, appProtocol: 'kubernetes.io/h2c' }]),
    endpointSlice('grpc', [{ ip: '127.0.0.1' }], port, 'grpc'),
  ]);
});

after(async () => {
  await ic.close();
  server.forceShutdown();
  await rm(dir, { recursive: true, force: true });
});

function client(): EchoClient {
  return new Echo(`127.0.0.1:${ic.running.proxyPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': 'grpc.test',
  }) as unknown as EchoClient;
}

test('gRPC unary, including a status error carried in trailers', async () => {
  const c = client();
  try {
    const r = await new Promise<Msg>((resolve, reject) =>
      c.Unary({ text: 'hi' }, new grpc.Metadata(), (err, m) => (err ? reject(err) : resolve(m as Msg))),
    );
    assert.equal(r.text, 'unary:hi');
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      c.Unary({ text: 'fail' }, new grpc.Metadata(), (e) => resolve(e as grpc.ServiceError)),
    );
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, 'asked to fail');
  } finally {
    c.close();
  }
});

test('gRPC bidirectional streaming: replies arrive while the client is still sending', async () => {
  const c = client();
  try {
    const before = ic.running.queue.get('default/grpc')?.RequestCount ?? 0;
    const call = c.Chat();
    const got: string[] = [];
    const firstReply = new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.on('data', (m: Msg) => got.push(m.text));
    call.write({ text: 'one' });
    await firstReply; // full duplex: a reply before the request stream ended
    call.write({ text: 'two' });
    call.end();
    await new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    assert.deepEqual(got, ['chat:one', 'chat:two']);
    assert.equal(ic.running.queue.get('default/grpc')?.RequestCount, before + 1, 'one stream, one request');
  } finally {
    c.close();
  }
});
