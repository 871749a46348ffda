// Runs iproute2's `ip` for the pod network (pod-network.ts): network namespaces, veth pairs, the
// kubelet's bridge and addresses. Needs root and iproute2; a failure says which command failed.
import { execFile } from 'node:child_process';

/** Runs `ip <args>` (`-n <netns>` first when given), resolving with its stdout. */
export function ip(args: string[], opts: { netns?: string; input?: string } = {}): Promise<string> {
  const argv = [...(opts.netns ? ['-n', opts.netns] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = execFile('ip', argv, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const why = stderr.trim() || err.message;
      reject(
        Object.assign(
          new Error(
            `ip ${argv.join(' ')} failed: ${why} (the process kubelet needs root, iproute2 and a kernel ` +
              'with network namespaces, veth and bridge devices)',
          ),
          { stderr },
        ),
      );
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like ip() for a deletion: the thing being gone already is no failure. */
export async function ipDelete(args: string[], opts: { netns?: string } = {}): Promise<void> {
  await ip(args, opts).catch((err: { stderr?: string }) => {
    if (/cannot find|does not exist|no such|not found/i.test(err.stderr ?? '')) return;
    throw err;
  });
}

/** The names of the network namespaces `ip netns add` made (in /run/netns). */
export async function netnsNames(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** The names of this machine's network interfaces (the host's namespace). */
export async function linkNames(): Promise<string[]> {
  const out = await ip(['-o', 'link', 'show']);
  return [...out.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)].map((m) => m[1] as string);
}

/** The IPv4 addresses of one interface. */
export async function interfaceAddresses(dev: string): Promise<string[]> {
  const out = await ip(['-4', '-o', 'addr', 'show', 'dev', dev]);
  return [...out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1] as string);
}
