// Adds and removes /32 addresses on the loopback interface (pod addresses and ClusterIPs), so local
// processes can bind them and everything on this machine reaches them. Needs root and iproute2.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Adds `ip`/32 to lo; false when it was there already (then the caller does not own it). */
export async function addLoopbackAddress(ip: string): Promise<boolean> {
  try {
    await run('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
    return true;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (/exists/i.test(stderr)) return false;
    throw new Error(
      `could not add ${ip} to the loopback interface (${stderr.trim() || (err as Error).message}); ` +
        'the process kubelet needs root and iproute2 (apt-get install -y iproute2)',
    );
  }
}

export async function removeLoopbackAddress(ip: string): Promise<void> {
  await run('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']).catch(() => undefined);
}

/** The IPv4 addresses on lo. */
export async function loopbackAddresses(): Promise<string[]> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo']);
  return [...stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1] as string);
}
