// Reads a Dockerfile into its build stages, so the image can be staged from the Dockerfile itself
// (the single source of truth for what the image holds) instead of from a second copy of its COPY
// list. Only the instructions this repository's Dockerfile needs are understood; anything else is a
// clear error naming the line, never silently skipped, because a skipped instruction would make the
// staged tree differ from the image.

export type Instruction =
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'COPY'; line: number; from: string | undefined; sources: string[]; dest: string }
  | { kind: 'RUN'; line: number; command: string }
  | { kind: 'USER'; line: number; user: string }
  | { kind: 'ENV'; line: number; vars: Record<string, string> }
  | { kind: 'ENTRYPOINT' | 'CMD'; line: number; argv: string[] };

export interface Stage {
  index: number;
  name: string | undefined;
  /** The base image reference (`FROM <base>`), or an earlier stage's name. */
  base: string;
  instructions: Instruction[];
}

/** Instructions that change nothing the staged tree or the process depends on. */
const ignored = new Set(['LABEL', 'EXPOSE', 'STOPSIGNAL', 'HEALTHCHECK', 'ARG', 'SHELL']);

export function parseDockerfile(text: string, file = 'Dockerfile'): Stage[] {
  const stages: Stage[] = [];
  for (const { line, content } of logicalLines(text)) {
    const match = /^(\w+)\s*(.*)$/s.exec(content);
    if (!match) throw new Error(`${file}:${line}: cannot read "${content}"`);
    const keyword = (match[1] ?? '').toUpperCase();
    const rest = (match[2] ?? '').trim();
    const fail = (why: string): never => {
      throw new Error(`${file}:${line}: ${keyword} ${rest}: ${why}`);
    };
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) fail('expected FROM <image> [AS <name>]');
      stages.push({ index: stages.length, name: from?.[2], base: from?.[1] ?? '', instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) fail('comes before the first FROM');
    if (ignored.has(keyword)) continue;
    const push = (i: Instruction): void => void stage?.instructions.push(i);
    switch (keyword) {
      case 'WORKDIR':
        push({ kind: 'WORKDIR', line, path: rest });
        break;
      case 'COPY': {
        const words = rest.startsWith('[') ? jsonArray(rest, fail) : rest.split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift() ?? '';
          if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
          else fail(`the flag ${flag} is not supported by the image stager`);
        }
        if (words.length < 2) fail('expected COPY <source>... <dest>');
        for (const w of words.slice(0, -1))
          if (/[*?[]/.test(w)) fail('wildcards in COPY sources are not supported by the image stager');
        push({ kind: 'COPY', line, from, sources: words.slice(0, -1), dest: words.at(-1) ?? '' });
        break;
      }
      case 'RUN':
        push({ kind: 'RUN', line, command: rest });
        break;
      case 'USER':
        push({ kind: 'USER', line, user: rest });
        break;
      case 'ENV':
        push({ kind: 'ENV', line, vars: envPairs(rest, fail) });
        break;
      case 'ENTRYPOINT':
      case 'CMD':
        if (!rest.startsWith('['))
          fail(
            'only the exec form (a JSON array) is supported: the image has no shell to run the shell form',
          );
        push({ kind: keyword, line, argv: jsonArray(rest, fail) });
        break;
      default:
        fail('this instruction is not supported by the image stager');
    }
  }
  if (stages.length === 0) throw new Error(`${file}: no FROM`);
  return stages;
}

/** Lines joined at trailing backslashes, without comments and blank lines, with their first line number. */
function logicalLines(text: string): { line: number; content: string }[] {
  const out: { line: number; content: string }[] = [];
  let pending: { line: number; content: string } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    // A comment line inside a continued instruction is dropped, as docker build does.
    if (trimmed.startsWith('#') || (trimmed === '' && !pending)) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trimEnd() : trimmed;
    pending = pending
      ? { line: pending.line, content: `${pending.content} ${part}` }
      : { line: i + 1, content: part };
    if (!continued) {
      out.push({ line: pending.line, content: pending.content.trim() });
      pending = undefined;
    }
  });
  if (pending) out.push(pending);
  return out;
}

function jsonArray(text: string, fail: (why: string) => never): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail('not a JSON array of strings');
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string'))
    fail('not a JSON array of strings');
  return parsed as string[];
}

/** `ENV A=1 B="two words"` (and the legacy `ENV A value`). */
function envPairs(text: string, fail: (why: string) => never): Record<string, string> {
  const vars: Record<string, string> = {};
  if (!/^[\w.-]+=/.test(text)) {
    const legacy = /^([\w.-]+)\s+(.*)$/.exec(text);
    if (!legacy) fail('expected ENV <name>=<value>...');
    vars[legacy?.[1] ?? ''] = legacy?.[2] ?? '';
    return vars;
  }
  const pair = /([\w.-]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)\s*/y;
  for (let at = 0; at < text.length; at = pair.lastIndex) {
    pair.lastIndex = at;
    const m = pair.exec(text);
    if (!m || m[0] === '') fail('cannot read the ENV pairs');
    const raw = m?.[2] ?? '';
    vars[m?.[1] ?? ''] = raw.startsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, '$1')
      : raw.startsWith("'")
        ? raw.slice(1, -1)
        : raw;
  }
  return vars;
}
