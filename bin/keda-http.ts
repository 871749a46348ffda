#!/usr/bin/env node
// The project's one command. Each subcommand lives in its component's folder and exports
// `main(argv)`; modules load lazily so `keda-http interceptor` never loads the manager's code.
import { existsSync } from 'node:fs';
import { ConfigError } from '../addon/shared/config.ts';

interface Subcommand {
  module: string;
  summary: string;
}

const subcommands: Record<string, Subcommand> = {
  manager: {
    module: '../manager/main.ts',
    summary: 'the meta-operator: installs the add-on from Keda CR annotations',
  },
  interceptor: {
    module: '../addon/interceptor/main.ts',
    summary: 'the HTTP proxy that counts, holds and forwards requests',
  },
  scaler: {
    module: '../addon/scaler/main.ts',
    summary: "KEDA's external scaler (gRPC) fed by the interceptors",
  },
  operator: {
    module: '../addon/operator/main.ts',
    summary: 'turns HTTPScaledObjects into KEDA ScaledObjects',
  },
  render: {
    module: '../manager/render/cli.ts',
    summary: 'prints manifests: render manager | addon | envoyfilter --host <h>',
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(subcommands).map((k) => k.length));
  const lines = Object.entries(subcommands).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`);
  return `usage: keda-http <command> [flags]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const sub = subcommands[name];
  if (!sub) {
    process.stderr.write(`keda-http: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const url = new URL(sub.module, import.meta.url);
  if (!existsSync(url)) {
    process.stderr.write(`keda-http: "${name}" is not built yet (${url.pathname} is missing)\n`);
    return 2;
  }
  const mod = (await import(url.href)) as { main: (argv: string[]) => Promise<number | void> };
  return (await mod.main(rest)) ?? 0;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`keda-http: ${err.message}\n`);
    else
      process.stderr.write(`keda-http: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
