// node:http's own HTTP/1 parser binding (llhttp), as `HTTPParser` from the non-public module
// `_http_common` (documentation-deprecated, DEP0199). The lean HTTP/1.1 client parses backend
// responses with it (proxy/h1-client.ts). Switch: KEDA_HTTP_INTERNALS_LEAN_HTTP1_CLIENT; fallback:
// undici carries every request.
import { createRequire } from 'node:module';
import { internalsEnabled, onInternalsReconfigured, reportFallback } from './switches.ts';

export interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(chunk: Buffer): number | Error;
  finish(): undefined | Error;
  remove(): void;
  close(): void;
  [key: number]: unknown;
}

export interface HttpParserClass {
  new (): NodeHttpParser;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
}

const methods = ['initialize', 'execute', 'finish', 'remove', 'close'] as const;
const constants = [
  'RESPONSE',
  'kOnMessageBegin',
  'kOnHeaders',
  'kOnHeadersComplete',
  'kOnBody',
  'kOnMessageComplete',
] as const;

/** The parser class if `mod` (what `_http_common` exports) has the shape this code relies on; else why not. */
export function checkHttpParserShape(mod: unknown): HttpParserClass | string {
  const P = (mod as { HTTPParser?: unknown } | undefined)?.HTTPParser;
  if (typeof P !== 'function') return '_http_common has no HTTPParser constructor';
  const proto = P.prototype as Record<string, unknown>;
  for (const m of methods) if (typeof proto[m] !== 'function') return `HTTPParser has no ${m}() method`;
  const statics = P as unknown as Record<string, unknown>;
  for (const c of constants) if (typeof statics[c] !== 'number') return `HTTPParser.${c} is not a number`;
  return P as unknown as HttpParserClass;
}

function loadModule(): unknown {
  try {
    return createRequire(import.meta.url)('_http_common');
  } catch (err) {
    return { loadError: (err as Error).message };
  }
}

/** Resolves the parser from `mod` (tests pass a fake), reporting once why it is not used. */
export function resolveHttpParser(mod: unknown): HttpParserClass | undefined {
  if (!internalsEnabled('leanHttp1Client')) {
    reportFallback('leanHttp1Client', 'switched off; undici carries every request');
    return undefined;
  }
  const checked = checkHttpParserShape(mod);
  if (typeof checked === 'string') {
    reportFallback('leanHttp1Client', `${checked}; undici carries every request`);
    return undefined;
  }
  return checked;
}

let memo: { parser: HttpParserClass | undefined } | undefined;
onInternalsReconfigured(() => (memo = undefined));

/** The parser for the lean client, or undefined when it is switched off or not as expected. */
export function httpParser(): HttpParserClass | undefined {
  return (memo ??= { parser: resolveHttpParser(loadModule()) }).parser;
}
