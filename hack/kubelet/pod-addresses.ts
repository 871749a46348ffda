// Pod addresses: every pod gets its own 10.N.x.y, added to the loopback interface while the pod
// runs, so several pods can listen on the same port and EndpointSlices point at real listeners.
// (Not 127.x.y.z: the API server rejects loopback addresses in EndpointSlices.) Each running
// kubelet claims its own 10.N.0.0/16, N from 200 to 249, with a claim file in the temp directory
// holding its pid, so two clusters on one machine never hand out the same address.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addLoopbackAddress, loopbackAddresses, removeLoopbackAddress } from './loopback-addresses.ts';

const claimDir = join(tmpdir(), 'keda-http-kubelet');
const firstRange = 200;
const lastRange = 249;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
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

  /** Claims the first 10.N.0.0/16 no live kubelet holds. */
  static claim(owner: string): PodAddresses {
    mkdirSync(claimDir, { recursive: true });
    const claim = JSON.stringify({ pid: process.pid, owner });
    for (let n = firstRange; n <= lastRange; n++) {
      const file = join(claimDir, `range-${n}.json`);
      try {
        writeFileSync(file, claim, { flag: 'wx' });
        return new PodAddresses(n, file);
      } catch {
        // Taken: reuse it only if its holder is gone.
        try {
          const held = JSON.parse(readFileSync(file, 'utf8')) as { pid: number };
          if (alive(held.pid)) continue;
          rmSync(file, { force: true });
          writeFileSync(file, claim, { flag: 'wx' });
          return new PodAddresses(n, file);
        } catch {
          continue;
        }
      }
    }
    throw new Error(
      `every pod address range 10.${firstRange}-${lastRange}.0.0/16 is claimed by a running kubelet (see ${claimDir})`,
    );
  }

  get cidr(): string {
    return `10.${this.range}.0.0/16`;
  }

  /** Removes addresses of this range a kubelet that crashed left on lo (the range is ours now). */
  async sweep(): Promise<number> {
    const stale = (await loopbackAddresses()).filter(
      (ip) => ip.startsWith(`10.${this.range}.`) && !this.#inUse.has(ip),
    );
    await Promise.all(stale.map((ip) => removeLoopbackAddress(ip)));
    return stale.length;
  }

  /** The node's address (its InternalIP). */
  get nodeIP(): string {
    return `10.${this.range}.0.1`;
  }

  /** The next free address, round robin (a just-released address is not reused at once), on lo. */
  async allocate(): Promise<string> {
    for (let i = 0; i < 65_536; i++) {
      const n = this.#next;
      this.#next = this.#next >= 65_534 ? 2 : this.#next + 1;
      const ip = `10.${this.range}.${n >> 8}.${n & 255}`;
      if ((n & 255) === 0 || (n & 255) === 255 || this.#inUse.has(ip)) continue;
      this.#inUse.add(ip);
      await addLoopbackAddress(ip); // already there is fine: left by a kubelet that crashed
      return ip;
    }
    throw new Error(`no free pod address left in ${this.cidr}`);
  }

  async release(ip: string): Promise<void> {
    if (!this.#inUse.delete(ip)) return;
    await removeLoopbackAddress(ip);
  }

  /** Removes every address still in use and gives the range back. */
  async close(): Promise<void> {
    await Promise.all([...this.#inUse].map((ip) => this.release(ip)));
    rmSync(this.#claimFile, { force: true });
  }
}
