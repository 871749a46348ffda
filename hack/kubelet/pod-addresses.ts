// Pod addresses: every pod gets its own 10.N.x.y (pod-network.ts puts it inside the pod's network
// namespace). (Not 127.x.y.z: the API server rejects loopback addresses in EndpointSlices.) Each
// running kubelet claims its own 10.N.0.0/16, N from 200 to 249, with a claim file in the temp
// directory holding its pid, so two clusters on one machine never hand out the same address, and
// their bridges, veths and namespaces (named after N) never clash.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const claimDir = join(tmpdir(), 'keda-http-kubelet');
export const firstRange = 200;
export const lastRange = 249;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Claims range n when no live kubelet holds it. */
function tryClaim(n: number, claim: string): { file: string } | undefined {
  const file = join(claimDir, `range-${n}.json`);
  try {
    writeFileSync(file, claim, { flag: 'wx' });
    return { file };
  } catch {
    // Taken: reuse it only if its holder is gone.
    try {
      const held = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
      if (alive(held.pid)) return undefined;
      rmSync(file, { force: true });
      writeFileSync(file, claim, { flag: 'wx' });
      return { file };
    } catch {
      return undefined;
    }
  }
}

export class PodAddresses {
  /** The second octet of this kubelet's 10.N.0.0/16. */
  readonly range: number;
  readonly #claimFile: string;
  readonly #inUse = new Set<string>();
  #next = 2; // 10.N.0.1 is the node's own address

  private constructor(range: number, claimFile: string) {
    this.range = range;
    this.#claimFile = claimFile;
  }

  /**
   * Claims `preferred` (the range this state directory had before, so its leftovers are found
   * again) when no live kubelet holds it, else the first 10.N.0.0/16 no live kubelet holds.
   */
  static claim(owner: string, preferred?: number): PodAddresses {
    mkdirSync(claimDir, { recursive: true });
    const claim = JSON.stringify({ pid: process.pid, owner });
    const order: number[] =
      preferred !== undefined && preferred >= firstRange && preferred <= lastRange ? [preferred] : [];
    for (let n = firstRange; n <= lastRange; n++) if (n !== preferred) order.push(n);
    for (const n of order) {
      const got = tryClaim(n, claim);
      if (got) return new PodAddresses(n, got.file);
    }
    throw new Error(
      `every pod address range 10.${firstRange}-${lastRange}.0.0/16 is claimed by a running kubelet (see ${claimDir})`,
    );
  }

  get cidr(): string {
    return `10.${this.range}.0.0/16`;
  }

  /** The node's address (its InternalIP, the pods' gateway). */
  get nodeIP(): string {
    return `10.${this.range}.0.1`;
  }

  /** The next free address, round robin (a just-released address is not reused at once). */
  allocate(): string {
    for (let i = 0; i < 65_536; i++) {
      const n = this.#next;
      this.#next = this.#next >= 65_534 ? 2 : this.#next + 1;
      const ip = `10.${this.range}.${n >> 8}.${n & 255}`;
      if ((n & 255) === 0 || (n & 255) === 255 || this.#inUse.has(ip)) continue;
      this.#inUse.add(ip);
      return ip;
    }
    throw new Error(`no free pod address left in ${this.cidr}`);
  }

  release(ip: string): void {
    this.#inUse.delete(ip);
  }

  /** Gives the range back. */
  close(): void {
    this.#inUse.clear();
    rmSync(this.#claimFile, { force: true });
  }
}
