// The gRPC test app behind the image `keda-http-test/grpc-echo:<tag>` (run by the process kubelet):
// unary Echo and bidirectional EchoStream answering "hello <message>" with the pod's name and the
// protocol (h2c, or h2 with TLS), plus grpc.health.v1 (service "" SERVING) for grpc probes.
//
//   PORT (default 8080), STARTUP_DELAY_MS (default 0), POD_NAME (default $HOSTNAME),
//   TLS_CERT_FILE and TLS_KEY_FILE (serve TLS with them)
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../addon/shared/log.ts';

export const echoProtoPath = join(import.meta.dirname, 'proto/echo.proto');

interface EchoRequest {
  message: string;
}
interface EchoReply {
  message: string;
  hostname: string;
  protocol: string;
}

const log = createLogger({ component: 'grpc-echo' });
const port = Number(process.env.PORT ?? '8080');
const startupDelayMs = Number(process.env.STARTUP_DELAY_MS ?? '0');
const pod = process.env.POD_NAME ?? process.env.HOSTNAME ?? 'grpc-echo';
const { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } = process.env;
const protocol = certFile && keyFile ? 'h2' : 'h2c';

const reply = (req: EchoRequest): EchoReply => ({ message: `hello ${req.message}`, hostname: pod, protocol });

async function main(): Promise<void> {
  log.info('starting', { pod, port, startupDelayMs, protocol });
  const definition = protoLoader.loadSync([echoProtoPath, healthProtoPath], {
    keepCase: true,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    echo: { Echo: { service: grpc.ServiceDefinition } };
  };
  const server = new grpc.Server();
  server.addService(pkg.echo.Echo.service, {
    Echo(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      log.info('Echo', { message: call.request.message });
      cb(null, reply(call.request));
    },
    EchoStream(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      call.on('data', (req: EchoRequest) => call.write(reply(req)));
      call.on('end', () => call.end());
    },
  });
  new HealthImplementation({ '': 'SERVING' }).addToServer(server);
  process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
  if (startupDelayMs > 0) await new Promise((r) => setTimeout(r, startupDelayMs));
  const credentials =
    certFile && keyFile
      ? grpc.ServerCredentials.createSsl(null, [
          { cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) },
        ])
      : grpc.ServerCredentials.createInsecure();
  server.bindAsync(`0.0.0.0:${port}`, credentials, (err, bound) => {
    if (err) {
      log.error('cannot listen', { error: err.message });
      process.exit(1);
    }
    log.info('listening', { port: bound });
  });
}

if (import.meta.main) await main();
