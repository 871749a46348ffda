// The hosts file pods see as /etc/hosts: the machine's own entries plus one line per Service. It
// is replaced whole (a new file renamed over the old, only when its content changes), so a lookup
// in a pod never reads it empty or half written. Pods see the replacement because their sandbox
// makes /etc/hosts a symlink to this path (sandbox.sh) rather than a bind mount of the file, which
// would keep showing the file that was there when the pod started.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/** The last line of the file: a reader that sees it has the whole file. */
export const hostsFileEnd = '# end of the local cluster Services';

export class HostsFile {
  readonly path: string;
  readonly #base: string;
  #written: string | undefined;

  constructor(path: string, base = readFileSync('/etc/hosts', 'utf8').trimEnd()) {
    this.path = path;
    this.#base = base;
    // The sandbox mounts a tmpfs here for its /etc overlay (sandbox.sh); it stays empty outside. The
    // directory holds nothing else: an image-root sandbox mounts it read-only into the container.
    mkdirSync(`${path}.etc`, { recursive: true });
    this.write([]);
  }

  /** Makes the file list `lines` after the machine's entries; does nothing when that is what it says. */
  write(lines: string[]): void {
    const content = `${this.#base}\n\n# Services of the local cluster (hack/kubelet/service-proxy.ts)\n${[...lines].sort().join('\n')}${lines.length ? '\n' : ''}${hostsFileEnd}\n`;
    if (content === this.#written) return;
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o644 });
    renameSync(tmp, this.path);
    this.#written = content;
  }
}
