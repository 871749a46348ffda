// The build context's .dockerignore, as docker build applies it: patterns relative to the context
// root, `*` and `?` within one path segment, `**` across segments, a leading `!` re-includes, the
// last matching pattern wins, and a pattern that matches a directory excludes everything under it.

export type IgnoreRule = { exclude: boolean; regex: RegExp };

export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = (exclude ? l : l.slice(1)).replace(/^\/+/, '').replace(/\/+$/, '');
      return { exclude, regex: globRegex(pattern) };
    });
}

function globRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
      const slash = pattern[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // Matching a directory excludes what is under it.
  return new RegExp(`^${out}(?:/.*)?$`);
}

/** Whether the context-relative path (no leading `./`) is left out of the build context. */
export function isIgnored(rules: readonly IgnoreRule[], relativePath: string): boolean {
  let ignored = false;
  for (const rule of rules) if (rule.regex.test(relativePath)) ignored = rule.exclude;
  return ignored;
}
