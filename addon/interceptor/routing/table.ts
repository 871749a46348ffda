// The immutable route table. Built once per change from every route, then only read.
// Lookup cost depends on the request (host labels, path segments), never on how many routes exist:
// hosts are a Map, paths a segment trie whose nodes mark the prefixes upstream's radix keys mark.
import type { HeaderMatcher, Route } from './route.ts';

/** One (route, rule headers) pair stored under a host/path key; several may share a key. */
export interface TableEntry {
  route: Route;
  headers: readonly HeaderMatcher[];
  valuedHeaders: number;
}

/** How the table reads request headers: every value of a (lower-case) header name, unjoined. */
export type HeaderSource = (name: string) => readonly string[] | undefined;

interface PathNode {
  children: Map<string, PathNode> | undefined;
  /** Entries of the key ending at this node, in precedence order; undefined when no key ends here. */
  entries: TableEntry[] | undefined;
}

const catchAllHost = '*';

/** Upstream's host normalisation for rule hosts: "" and "*" are the catch-all; a :port is dropped. */
export function normalizeRuleHost(host: string): string {
  if (host === '' || host === catchAllHost) return catchAllHost;
  return stripPort(host);
}

/** Drops a ":port" suffix the way Go's net.SplitHostPort does (IPv6 in brackets keeps its colons). */
export function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  if (colon === -1) return host;
  // "a:b:c" is not host:port (SplitHostPort fails, upstream keeps the whole string).
  return host.indexOf(':', colon + 1) === -1 ? host.slice(0, colon) : host;
}

/** The segments of upstream's key path: leading and trailing "/" trimmed, split on "/". */
export function pathSegments(path: string): string[] {
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 47) start++;
  while (end > start && path.charCodeAt(end - 1) === 47) end--;
  return start === end ? [] : path.slice(start, end).split('/');
}

function newNode(): PathNode {
  return { children: undefined, entries: undefined };
}

/** Sorts a key's entries the way upstream does. */
function compareEntries(a: TableEntry, b: TableEntry): number {
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  if (a.valuedHeaders !== b.valuedHeaders) return b.valuedHeaders - a.valuedHeaders;
  if (a.route.creationTimestampMs !== b.route.creationTimestampMs)
    return a.route.creationTimestampMs - b.route.creationTimestampMs;
  if (a.route.namespace !== b.route.namespace) return a.route.namespace < b.route.namespace ? 1 : -1;
  if (a.route.name !== b.route.name) return a.route.name < b.route.name ? 1 : -1;
  return 0;
}

/** AND over matchers; a valueless matcher needs the header present, a valued one an exact value. */
export function matchHeaders(matchers: readonly HeaderMatcher[], header: HeaderSource): boolean {
  for (const m of matchers) {
    const values = header(m.name);
    if (values === undefined || values.length === 0) return false;
    if (m.value !== undefined && !values.includes(m.value)) return false;
  }
  return true;
}

export class RouteTable {
  readonly routes: readonly Route[];
  readonly #hosts = new Map<string, PathNode>();
  /**
   * Hosts with exactly one route, on "/" and without header matchers (the common case), to that
   * route: a lookup then needs one Map probe, neither the path's segments nor the trie.
   */
  readonly #only = new Map<string, Route>();

  constructor(routes: readonly Route[]) {
    this.routes = routes;
    for (const route of routes) {
      for (const rule of route.rules) {
        const hosts = rule.hosts.length === 0 ? [catchAllHost] : rule.hosts.map(normalizeRuleHost);
        const paths = rule.paths.length === 0 ? ['/'] : rule.paths;
        const entry: TableEntry = {
          route,
          headers: rule.headers,
          valuedHeaders: rule.headers.filter((h) => h.value !== undefined).length,
        };
        for (const host of hosts) for (const path of paths) this.#insert(host, path, entry);
      }
    }
    for (const [host, root] of this.#hosts) {
      sortTree(root);
      const e = root.entries;
      if (root.children === undefined && e?.length === 1 && e[0]?.headers.length === 0)
        this.#only.set(host, e[0].route);
    }
  }

  get size(): number {
    return this.routes.length;
  }

  /**
   * Finds the route for a request. `host` is the Host header (a :port is stripped here), `path` the
   * decoded URL path. Exact host, then wildcards most-specific first, then the catch-all; within a
   * stage only the longest matching prefix's entries are tried (upstream's quirk: no fallback to a
   * shorter prefix of the same host when headers do not match).
   */
  lookup(host: string, path: string, header: HeaderSource): Route | undefined {
    const hostname = stripPort(host);
    const only = this.#only.get(hostname);
    if (only !== undefined) return only;
    const exact = this.#hosts.get(hostname);
    const segments = pathSegments(path);
    if (exact) {
      const r = longestPrefix(exact, segments, header);
      if (r) return r;
    }
    // Wildcards: a.b.example.com -> *.b.example.com, *.example.com, *.com (never the bare host).
    let dot = hostname.indexOf('.');
    while (dot !== -1) {
      const wild = this.#hosts.get(`*${hostname.slice(dot)}`);
      if (wild) {
        const r = longestPrefix(wild, segments, header);
        if (r) return r;
      }
      dot = hostname.indexOf('.', dot + 1);
    }
    const all = this.#hosts.get(catchAllHost);
    return all ? longestPrefix(all, segments, header) : undefined;
  }

  #insert(host: string, path: string, entry: TableEntry): void {
    let node = this.#hosts.get(host);
    if (!node) this.#hosts.set(host, (node = newNode()));
    for (const seg of pathSegments(path)) {
      node.children ??= new Map();
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = newNode()));
      node = next;
    }
    (node.entries ??= []).push(entry);
  }
}

function sortTree(node: PathNode): void {
  node.entries?.sort(compareEntries);
  if (node.children) for (const child of node.children.values()) sortTree(child);
}

function longestPrefix(root: PathNode, segments: readonly string[], header: HeaderSource): Route | undefined {
  let best = root.entries;
  let node: PathNode | undefined = root;
  for (const seg of segments) {
    node = node.children?.get(seg);
    if (!node) break;
    if (node.entries) best = node.entries;
  }
  if (!best) return undefined;
  for (const e of best) if (e.headers.length === 0 || matchHeaders(e.headers, header)) return e.route;
  return undefined;
}
