// `keda-http render addon|manager|envoyfilter`: prints manifests for GitOps users and reviewers.
import { parseFlags, ConfigError } from '../../addon/shared/config.ts';
import { annotation, namespaceProblem, parseAddonConfig } from '../addon-config.ts';
import { renderAddon, renderEnvoyFilter, renderManager } from './render.ts';
import { toYaml } from './renderer.ts';

const usage = `usage:
  keda-http render addon [--namespace kyma-system] [--keda-namespace keda] [--istio-injection] [--image IMAGE]
  keda-http render manager [--namespace kyma-system] [--image IMAGE]
  keda-http render envoyfilter --host HOST [--host HOST ...] [--namespace istio-system]
      [--selector istio=ingressgateway] [--retry-on 5xx,...] [--num-retries 100] [--per-try-timeout 3s]
`;

export async function main(argv: string[]): Promise<number> {
  const [what, ...rest] = argv;
  // --host may repeat; collect it before the single-valued flag parser sees the rest.
  const hosts: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] ?? '';
    if (a === '--host') hosts.push(rest[++i] ?? '');
    else if (a.startsWith('--host=')) hosts.push(a.slice('--host='.length));
    else others.push(a);
  }
  const { flags } = parseFlags(others, {
    namespace: 'string',
    'keda-namespace': 'string',
    'istio-injection': 'boolean',
    image: 'string',
    selector: 'string',
    'retry-on': 'string',
    'num-retries': 'string',
    'per-try-timeout': 'string',
  });
  const str = (k: string): string | undefined =>
    typeof flags[k] === 'string' ? (flags[k] as string) : undefined;
  const image = str('image');

  switch (what) {
    case 'addon': {
      const config = configFrom({
        [annotation.enabled]: 'true',
        ...(str('namespace') ? { [annotation.namespace]: str('namespace') as string } : {}),
        [annotation.istioInjection]: flags['istio-injection'] === true ? 'true' : 'false',
      });
      // Without --keda-namespace the scaler admits KEDA's operator pods from any namespace.
      const kedaNamespace = str('keda-namespace');
      if (kedaNamespace !== undefined) {
        const problem = namespaceProblem(kedaNamespace);
        if (problem) throw new ConfigError([`--keda-namespace: ${problem}`]);
      }
      process.stdout.write(
        toYaml(
          renderAddon(config, {
            owner: { namespace: '', name: '' },
            ...(image ? { image } : {}),
            ...(kedaNamespace ? { kedaNamespace } : {}),
          }),
        ),
      );
      return 0;
    }
    case 'manager':
      process.stdout.write(toYaml(renderManager(str('namespace') ?? 'kyma-system', image ? { image } : {})));
      return 0;
    case 'envoyfilter': {
      if (hosts.length === 0 || hosts.some((h) => h.trim() === ''))
        throw new ConfigError(['render envoyfilter needs at least one --host']);
      const a: Record<string, string> = { [annotation.envoyFilter]: 'true' };
      if (str('namespace')) a[annotation.envoyFilterNamespace] = str('namespace') as string;
      if (str('selector')) a[annotation.envoyFilterSelector] = str('selector') as string;
      if (str('retry-on')) a[annotation.retryOn] = str('retry-on') as string;
      if (str('num-retries')) a[annotation.numRetries] = str('num-retries') as string;
      if (str('per-try-timeout')) a[annotation.perTryTimeout] = str('per-try-timeout') as string;
      process.stdout.write(toYaml(renderEnvoyFilter(configFrom(a), hosts)));
      return 0;
    }
    default:
      process.stderr.write(usage);
      return 2;
  }
}

function configFrom(annotations: Record<string, string>) {
  const r = parseAddonConfig(annotations);
  if (!r.ok) throw new ConfigError(r.errors);
  return r.config;
}
