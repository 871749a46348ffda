// A userspace kube-proxy: every Service's ClusterIP is added to this machine (on the kubelet's
// bridge, pod-network.ts, so this machine and every pod reach it) and its TCP
// ports listen there, forwarding each connection to a ready endpoint from the Service's
// EndpointSlices (round robin, port translated as kube-proxy does). Names resolve through a hosts
// file each pod's sandbox shows as /etc/hosts (hosts-file.ts; `<svc>.<ns>`, `<svc>.<ns>.svc`,
// `<svc>.<ns>.svc.cluster.local` -> ClusterIP), so the machine's own /etc/hosts is never touched.
// Why this over names pointing at pod addresses: docs/decisions/e2e-process-kubelet.md.
import net from 'node:net';
import { Informer, type KubeClient } from '../../addon/runtime/index.ts';
import type { Logger } from '../../addon/shared/log.ts';
import { errorFields } from '../../addon/shared/log.ts';
import { HostsFile } from './hosts-file.ts';
import { forwardConnection } from './tcp-forward.ts';
import { endpointSliceKind, serviceKind, type EndpointSlice, type Service } from './types.ts';

/** Where ClusterIPs go: addresses of this machine that pods reach too (the kubelet's bridge). */
export interface HostAddresses {
  /** False when the address was there already (then the caller does not own it). */
  addHostAddress(ip: string): Promise<boolean>;
  removeHostAddress(ip: string): Promise<void>;
}

interface Listener {
  server: net.Server;
  next: number;
}

/** Services the proxy leaves alone: the API server's own (pods reach it by name: api-server-access.ts). */
const skipped = (svc: Service): boolean =>
  svc.metadata.namespace === 'default' && svc.metadata.name === 'kubernetes';

export class ServiceProxy {
  readonly #hosts: HostsFile;
  readonly #extraHosts: string[];
  readonly #addresses: HostAddresses;
  readonly #log: Logger;
  readonly #services: Informer<Service>;
  readonly #slices: Informer<EndpointSlice>;
  /** `ip:port` -> listener. */
  readonly #listeners = new Map<string, Listener>();
  /** ClusterIPs this proxy added (and so removes on stop). */
  readonly #addedIPs = new Set<string>();
  #syncing: Promise<void> = Promise.resolve();
  #stopped = false;

  /** `extraHosts`: hosts-file lines besides the Services' (the API server's names). */
  constructor(
    client: KubeClient,
    opts: { hostsFile: string; extraHosts?: string[]; addresses: HostAddresses },
    log: Logger,
  ) {
    this.#hosts = new HostsFile(opts.hostsFile);
    this.#extraHosts = opts.extraHosts ?? [];
    this.#addresses = opts.addresses;
    this.#log = log;
    this.#services = new Informer<Service>(client, serviceKind, { log });
    this.#slices = new Informer<EndpointSlice>(client, endpointSliceKind, { log });
    this.#services.on(() => this.#scheduleSync());
    // Endpoints open and close listeners: a Service without ready endpoints refuses connections.
    this.#slices.on(() => this.#scheduleSync());
  }

  get hostsFile(): string {
    return this.#hosts.path;
  }

  async start(): Promise<void> {
    this.#services.start();
    this.#slices.start();
    await Promise.all([this.#services.synced, this.#slices.synced]);
    this.#scheduleSync();
    await this.#syncing;
  }

  /** The ClusterIP a name (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`) resolves to in pods. */
  resolve(name: string): string | undefined {
    const m = /^([^.]+)\.([^.]+)(\.svc(\.cluster\.local)?)?$/.exec(name);
    if (!m?.[1] || !m[2]) return undefined;
    const ip = this.#services.get(m[2], m[1])?.spec.clusterIP;
    return ip && ip !== 'None' ? ip : undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([this.#services.stop(), this.#slices.stop()]);
    await this.#syncing;
    for (const [key, l] of this.#listeners) {
      l.server.close();
      this.#listeners.delete(key);
    }
    for (const ip of this.#addedIPs) await this.#addresses.removeHostAddress(ip);
    this.#addedIPs.clear();
  }

  #scheduleSync(): void {
    this.#syncing = this.#syncing
      .then(() => this.#sync())
      .catch((err: unknown) => {
        this.#log.error('service proxy sync failed', errorFields(err));
      });
  }

  /** Makes listeners and the hosts file match the Services. */
  async #sync(): Promise<void> {
    if (this.#stopped) return;
    const wanted = new Map<string, { svc: Service; port: NonNullable<Service['spec']['ports']>[number] }>();
    const hosts: string[] = [...this.#extraHosts];
    for (const svc of this.#services.list()) {
      const ip = svc.spec.clusterIP;
      if (skipped(svc) || !ip || ip === 'None' || !net.isIPv4(ip)) continue;
      const { name, namespace } = svc.metadata;
      hosts.push(
        `${ip}\t${name}.${namespace} ${name}.${namespace}.svc ${name}.${namespace}.svc.cluster.local`,
      );
      for (const port of svc.spec.ports ?? []) {
        if ((port.protocol ?? 'TCP') === 'TCP') wanted.set(`${ip}:${port.port}`, { svc, port });
      }
    }
    for (const [key, l] of this.#listeners) {
      if (!wanted.has(key)) {
        l.server.close();
        this.#listeners.delete(key);
      }
    }
    for (const [key, { svc, port }] of wanted) {
      const serviceKey = `${svc.metadata.namespace}/${svc.metadata.name}`;
      // The address is added as soon as the Service exists, ready or not: without it, a connection
      // to a ClusterIP with no listener yet leaves the machine by the default route (and was once
      // answered 404 by whatever sits there) instead of being refused here.
      await this.#ensureAddress(svc.spec.clusterIP as string);
      // As kube-proxy's REJECT rule does, a Service with no ready endpoint refuses connections at
      // connect time (nothing listens), so a client can tell "not yet" from a failed request.
      const ready = this.#endpoints(serviceKey, port.name ?? '').length > 0;
      const open = this.#listeners.get(key);
      if (open && !ready) {
        open.server.close();
        this.#listeners.delete(key);
      }
      if (open || !ready) continue;
      await this.#listen(key, svc.spec.clusterIP as string, port.port, serviceKey, port.name ?? '');
    }
    this.#hosts.write(hosts);
  }

  async #ensureAddress(ip: string): Promise<void> {
    if (this.#addedIPs.has(ip)) return;
    // Already there: another cluster's proxy holds the same ClusterIP, or one left it behind.
    if (await this.#addresses.addHostAddress(ip)) this.#addedIPs.add(ip);
  }

  /** The ready endpoints' addresses for one Service port (matched by port name, as kube-proxy does). */
  #endpoints(serviceKey: string, portName: string): { host: string; port: number }[] {
    const [ns, name] = serviceKey.split('/') as [string, string];
    const out: { host: string; port: number }[] = [];
    for (const slice of this.#slices.list(ns)) {
      if (slice.metadata.labels?.['kubernetes.io/service-name'] !== name || slice.addressType !== 'IPv4')
        continue;
      const port = slice.ports?.find((p) => (p.name ?? '') === portName)?.port;
      if (port === undefined) continue;
      for (const ep of slice.endpoints ?? []) {
        const host = ep.addresses[0];
        if (host && ep.conditions?.ready !== false) out.push({ host, port });
      }
    }
    return out.sort((a, b) => a.host.localeCompare(b.host));
  }

  async #listen(key: string, ip: string, port: number, serviceKey: string, portName: string): Promise<void> {
    const listener: Listener = { server: net.createServer(), next: 0 };
    listener.server.on('connection', (client) => {
      const endpoints = this.#endpoints(serviceKey, portName);
      const target = endpoints[listener.next++ % Math.max(endpoints.length, 1)];
      if (!target) {
        client.resetAndDestroy(); // kube-proxy rejects connections to a Service with no endpoints
        return;
      }
      forwardConnection(client, target);
    });
    await new Promise<void>((resolve) => {
      listener.server.once('error', (err) => {
        this.#log.error('service proxy cannot listen', {
          service: serviceKey,
          address: key,
          ...errorFields(err),
        });
        resolve();
      });
      listener.server.listen(port, ip, () => {
        this.#listeners.set(key, listener);
        resolve();
      });
    });
  }
}
