// The pods' network, as a CNI bridge plugin builds it: every pod gets a network namespace of its
// own with its address 10.N.x.y/16 on `eth0` (one end of a veth pair) and `lo` up; the other end
// of each pair is a port of this kubelet's bridge, which holds the node's address 10.N.0.1/16 (the
// pods' default route) and the Services' ClusterIPs (service-proxy.ts listens there). So any
// program, a static Go binary included, binds whatever it likes inside its pod; this machine
// reaches every pod address through the bridge (probes, the Service proxy, the API server's
// aggregation); pods reach each other across the bridge, and the node's and the ClusterIPs as local
// addresses of this machine. Nothing is forwarded or translated: no sysctl or firewall changes.
// Why a bridge: docs/decisions/e2e-pod-network-namespaces.md.
//
// Names carry the kubelet's range N, so concurrent kubelets never touch each other's: bridge
// `khttp<N>`, host ends `kh<N>-<x>-<y>` (from the pod address), namespaces
// `khttp<N>-<x>-<y>_<namespace>_<pod>`. A kubelet that died leaves them behind; the next one to
// claim range N (the same state directory claims the same N again) removes them all at start.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { interfaceAddresses, ip, ipDelete, linkNames, netnsNames } from './ip-command.ts';
import { PodAddresses } from './pod-addresses.ts';

/** One pod's place on the network. */
export interface PodNetns {
  /** The pod's address: inside its namespace, and reachable from this machine. */
  podIP: string;
  /** The namespace's name (`ip netns`). */
  name: string;
  /** Where a process enters it (`nsenter --net=<path>`). */
  path: string;
  /** The host end of its veth pair (a port of the bridge). */
  hostVeth: string;
}

export class PodNetwork {
  readonly #addresses: PodAddresses;
  readonly #attached = new Map<string, PodNetns>();
  /** `ip` commands one at a time: the first `ip netns add` sets up /run/netns, which must not race. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(addresses: PodAddresses) {
    this.#addresses = addresses;
  }

  /**
   * Claims a range (the one `stateDir` had before when it is free), removes what a kubelet that
   * died left in it, and creates the bridge with the node's address.
   */
  static async start(stateDir: string, owner: string): Promise<{ network: PodNetwork; leftovers: number }> {
    const rangeFile = join(stateDir, 'pod-network-range');
    const before = existsSync(rangeFile) ? Number(readFileSync(rangeFile, 'utf8').trim()) : undefined;
    const addresses = PodAddresses.claim(owner, before);
    writeFileSync(rangeFile, `${addresses.range}\n`);
    const network = new PodNetwork(addresses);
    try {
      const leftovers = await network.#removeLeftovers();
      await network.#createBridge();
      return { network, leftovers };
    } catch (err) {
      addresses.close();
      throw err;
    }
  }

  get range(): number {
    return this.#addresses.range;
  }

  get cidr(): string {
    return this.#addresses.cidr;
  }

  /** The node's address: on the bridge, the pods' gateway. */
  get nodeIP(): string {
    return this.#addresses.nodeIP;
  }

  get bridge(): string {
    return `khttp${this.range}`;
  }

  /** What every namespace of this range is called at the start. */
  get netnsPrefix(): string {
    return `khttp${this.range}-`;
  }

  /** What every host end of a veth pair of this range is called at the start. */
  get vethPrefix(): string {
    return `kh${this.range}-`;
  }

  /** A namespace, a veth pair and an address for one pod. */
  async attach(pod: { namespace: string; name: string }): Promise<PodNetns> {
    const podIP = this.#addresses.allocate();
    const [, , x, y] = podIP.split('.');
    const name = `${this.netnsPrefix}${x}-${y}_${pod.namespace}_${pod.name}`.slice(0, 200);
    const p: PodNetns = { podIP, name, path: `/run/netns/${name}`, hostVeth: `${this.vethPrefix}${x}-${y}` };
    try {
      await this.#serially(async () => {
        await ip(['netns', 'add', name]);
        await ip(['link', 'add', p.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
        await ip(['-batch', '-'], {
          netns: name,
          input: [
            `addr add ${podIP}/16 dev eth0`,
            'link set lo up',
            'link set eth0 up',
            `route add default via ${this.nodeIP} dev eth0`,
            '',
          ].join('\n'),
        });
        await ip(['-batch', '-'], {
          input: `link set ${p.hostVeth} master ${this.bridge}\nlink set ${p.hostVeth} up\n`,
        });
      });
    } catch (err) {
      await this.#remove(p);
      throw err;
    }
    this.#attached.set(podIP, p);
    return p;
  }

  /** Removes a pod's veth pair and namespace (after its processes are gone) and frees its address. */
  async detach(podIP: string): Promise<void> {
    const p = this.#attached.get(podIP);
    if (!p || !this.#attached.delete(podIP)) return;
    await this.#remove(p);
  }

  /** Adds an address of this machine (a ClusterIP) to the bridge; false when it was there already. */
  async addHostAddress(address: string): Promise<boolean> {
    return this.#serially(() =>
      ip(['addr', 'add', `${address}/32`, 'dev', this.bridge]).then(
        () => true,
        (err: { stderr?: string }) => {
          if (/exists|already assigned/i.test(err.stderr ?? '')) return false;
          throw err;
        },
      ),
    );
  }

  async removeHostAddress(address: string): Promise<void> {
    await this.#serially(() => ipDelete(['addr', 'del', `${address}/32`, 'dev', this.bridge]));
  }

  /** Removes every pod's namespace and veth pair, the bridge (and its addresses), gives the range back. */
  async close(): Promise<void> {
    for (const podIP of [...this.#attached.keys()]) await this.detach(podIP);
    await this.#serially(() => ipDelete(['link', 'del', this.bridge]));
    this.#addresses.close();
  }

  async #remove(p: PodNetns): Promise<void> {
    await this.#serially(async () => {
      // The link first: a namespace outlives `ip netns del` while a process is still in it.
      await ipDelete(['link', 'del', p.hostVeth]);
      await ipDelete(['netns', 'del', p.name]);
    });
    this.#addresses.release(p.podIP);
  }

  async #createBridge(): Promise<void> {
    // A fixed MAC: a bridge otherwise takes its lowest port's, changing under the pods' ARP caches.
    const mac = `02:6b:68:00:00:${this.range.toString(16).padStart(2, '0')}`;
    await this.#serially(async () => {
      await ip(['link', 'add', this.bridge, 'address', mac, 'type', 'bridge']);
      await ip(['-batch', '-'], {
        input: `addr add ${this.nodeIP}/16 dev ${this.bridge}\nlink set ${this.bridge} up\n`,
      });
    });
  }

  /** Namespaces, links and addresses of this range that a kubelet which died left behind. */
  async #removeLeftovers(): Promise<number> {
    return this.#serially(async () => {
      let removed = 0;
      for (const name of await netnsNames()) {
        if (!name.startsWith(this.netnsPrefix)) continue;
        await ipDelete(['netns', 'del', name]);
        removed++;
      }
      for (const link of await linkNames()) {
        if (link !== this.bridge && !link.startsWith(this.vethPrefix)) continue;
        await ipDelete(['link', 'del', link]);
        removed++;
      }
      // Kubelets before network namespaces put pod addresses on lo; one there would shadow a pod.
      for (const address of await interfaceAddresses('lo')) {
        if (!address.startsWith(`10.${this.range}.`)) continue;
        await ipDelete(['addr', 'del', `${address}/32`, 'dev', 'lo']);
        removed++;
      }
      return removed;
    });
  }

  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The /etc/resolv.conf of pods in their own namespaces. This machine's name server is out of their
 * reach (nothing is forwarded), and a lookup would wait for it for seconds: the node's address,
 * where nothing answers on port 53, makes any name the hosts file lacks fail at once.
 */
export function podResolvConf(nodeIP: string): string {
  return `# Pods of the process kubelet find names in /etc/hosts (the cluster's Services) only.\nnameserver ${nodeIP}\n`;
}

/**
 * Every trace of range N on this machine, as `ip` lists them: namespaces, links, addresses and
 * routes. Empty once a kubelet of that range stopped (or the next one cleaned up after it).
 */
export async function networkTraces(range: number): Promise<string[]> {
  const mentions = (line: string): boolean =>
    line.includes(`khttp${range}`) || line.includes(`kh${range}-`) || line.includes(`10.${range}.`);
  const outputs = await Promise.all([
    ip(['netns', 'list']),
    ip(['-o', 'link', 'show']),
    ip(['-o', 'addr', 'show']),
    ip(['route', 'show', 'table', 'all']),
  ]);
  return outputs.flatMap((out) => out.split('\n').filter(mentions));
}
