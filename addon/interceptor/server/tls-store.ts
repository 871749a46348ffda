// The TLS listener's certificates, as upstream loads them: a default pair plus directories of extra
// pairs, each indexed by every DNS/IP/URI SAN (literally, so "*.example.com" is a key of its own);
// the SNI callback picks an exact match, else the default, else fails the handshake.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { SecureServerOptions } from 'node:http2';
import type { TlsConfig } from '../config.ts';

/** Go cipher-suite names -> OpenSSL names (TLS 1.2 suites; TLS 1.3 suites are not configurable in Go). */
const goCiphers: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
};
const goCurves: Record<string, string> = {
  CurveP256: 'P-256',
  CurveP384: 'P-384',
  CurveP521: 'P-521',
  'P-256': 'P-256',
  'P-384': 'P-384',
  'P-521': 'P-521',
  X25519: 'X25519',
  X25519MLKEM768: 'X25519MLKEM768',
};

interface Pair {
  cert: Buffer;
  key: Buffer;
}

/** Walks a directory tree for pairs: x.pem + x-key.pem, or x.crt + x.key. */
async function findPairs(dir: string): Promise<Pair[]> {
  const certs = new Map<string, string>();
  const keys = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name);
      if ((await stat(p)).isDirectory()) {
        await walk(p);
        continue;
      }
      if (p.endsWith('-key.pem')) keys.set(p.slice(0, -'-key.pem'.length), p);
      else if (p.endsWith('.pem')) certs.set(p.slice(0, -'.pem'.length), p);
      else if (p.endsWith('.key')) keys.set(p.slice(0, -'.key'.length), p);
      else if (p.endsWith('.crt')) certs.set(p.slice(0, -'.crt'.length), p);
    }
  };
  await walk(dir);
  const pairs: Pair[] = [];
  for (const [id, certPath] of certs) {
    const keyPath = keys.get(id);
    if (keyPath === undefined)
      throw new Error(`certificate ${certPath} has no matching key (${id}-key.pem or ${id}.key)`);
    pairs.push({ cert: await readFile(certPath), key: await readFile(keyPath) });
  }
  return pairs;
}

function sanNames(cert: Buffer): string[] {
  const x = new X509Certificate(cert);
  const san = x.subjectAltName ?? '';
  return san
    .split(/,\s*/)
    .map((entry) => entry.replace(/^(DNS|IP Address|URI):/, ''))
    .filter((s) => s !== '');
}

export interface LoadedTls extends SecureServerOptions {
  /** Every loaded certificate, PEM: also trusted for upstream TLS, like upstream's RootCAs. */
  ca: Buffer[];
}

export async function loadTlsOptions(cfg: TlsConfig): Promise<LoadedTls> {
  const problems: string[] = [];
  const ciphers = cfg.cipherSuites.map((c) => {
    const o = goCiphers[c];
    if (o === undefined) problems.push(`KEDA_HTTP_PROXY_TLS_CIPHER_SUITES: unknown cipher suite "${c}"`);
    return o;
  });
  const curves = cfg.curvePreferences.map((c) => {
    const o = goCurves[c];
    if (o === undefined) problems.push(`KEDA_HTTP_PROXY_TLS_CURVE_PREFERENCES: unknown curve "${c}"`);
    return o;
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  const base: tls.SecureContextOptions = {};
  if (cfg.minVersion !== '') base.minVersion = cfg.minVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
  if (cfg.maxVersion !== '') base.maxVersion = cfg.maxVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
  if (ciphers.length > 0) base.ciphers = ciphers.join(':');
  if (curves.length > 0) base.ecdhCurve = curves.join(':');

  let defaultPair: Pair | undefined;
  if (cfg.certPath !== '' && cfg.keyPath !== '') {
    defaultPair = { cert: await readFile(cfg.certPath), key: await readFile(cfg.keyPath) };
  }
  const byName = new Map<string, SecureContext>();
  const all: Pair[] = defaultPair ? [defaultPair] : [];
  for (const dir of cfg.certStorePaths) {
    for (const pair of await findPairs(dir)) {
      all.push(pair);
      const ctx = tls.createSecureContext({ ...base, ...pair });
      for (const n of sanNames(pair.cert)) if (!byName.has(n)) byName.set(n, ctx);
    }
  }
  if (defaultPair) {
    const ctx = tls.createSecureContext({ ...base, ...defaultPair });
    for (const n of sanNames(defaultPair.cert)) if (!byName.has(n)) byName.set(n, ctx);
  }
  const fallback = defaultPair ? tls.createSecureContext({ ...base, ...defaultPair }) : undefined;
  return {
    ...base,
    ...(defaultPair ?? {}),
    ca: all.map((p) => p.cert),
    SNICallback: (servername, cb) => {
      const ctx = byName.get(servername) ?? fallback;
      if (ctx) cb(null, ctx);
      else cb(new Error(`no certificate found for ${servername}`));
    },
  };
}
