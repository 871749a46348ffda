// Joins an accepted TCP connection to a new one to `target`, both ways, and closes both when either
// ends or fails. The Service proxy (service-proxy.ts) and the API server's forward
// (api-server-access.ts) pass every connection through it, and so do the demo's local forwards
// (hack/embedded.ts); nothing is read or changed on the way.
import net from 'node:net';

export function forwardConnection(client: net.Socket, target: { host: string; port: number }): void {
  const upstream = net.connect(target);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
}
