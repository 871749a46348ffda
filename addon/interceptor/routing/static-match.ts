// Rule matching for staticRoutes (upstream's MatchRoutingRule), which differs from the table lookup:
// OR over hosts, OR over segment-aligned path prefixes, AND over headers; empty fields match all.
import type { RoutingRule, StaticRoute } from './route.ts';
import { matchHeaders, stripPort, type HeaderSource } from './table.ts';

function trimSlashes(p: string): string {
  let s = 0;
  let e = p.length;
  while (s < e && p.charCodeAt(s) === 47) s++;
  while (e > s && p.charCodeAt(e - 1) === 47) e--;
  return p.slice(s, e);
}

export function matchRoutingRule(
  rule: RoutingRule,
  host: string,
  path: string,
  header: HeaderSource,
): boolean {
  if (rule.hosts.length > 0) {
    const h = stripPort(host);
    const ok = rule.hosts.some((pattern) => {
      if (pattern === '' || pattern === '*') return true;
      if (pattern.startsWith('*.')) return h.endsWith(pattern.slice(1));
      return stripPort(pattern) === h;
    });
    if (!ok) return false;
  }
  if (rule.paths.length > 0) {
    const p = trimSlashes(path);
    const ok = rule.paths.some((pattern) => {
      const t = trimSlashes(pattern);
      return t === '' || p === t || p.startsWith(`${t}/`);
    });
    if (!ok) return false;
  }
  return matchHeaders(rule.headers, header);
}

/** The first static route with any matching rule, in list order. */
export function findStaticRoute(
  staticRoutes: readonly StaticRoute[],
  host: string,
  path: string,
  header: HeaderSource,
): StaticRoute | undefined {
  for (const s of staticRoutes) {
    if (s.rules.some((r) => matchRoutingRule(r, host, path, header))) return s;
  }
  return undefined;
}
