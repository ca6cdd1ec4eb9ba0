/** For each scope, every scope it includes, directly or through a chain of inclusions. */
export type ScopeHierarchy = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * Builds the closure of direct inclusions, so `{ admin: ["write"], write: ["read"] }`
 * gives `admin` both `write` and `read`. A cycle makes its scopes equivalent.
 */
export function buildScopeHierarchy(direct: Readonly<Record<string, readonly string[]>>): ScopeHierarchy {
  const hierarchy = new Map<string, Set<string>>();
  for (const scope of Object.keys(direct)) {
    hierarchy.set(scope, collectIncluded(scope, direct));
  }
  return hierarchy;
}

/**
 * Lists the granted scopes followed by every scope they include, each once.
 *
 * @example
 * expandScopes(["mcp:admin"], buildScopeHierarchy({ "mcp:admin": ["mcp:read"] })); // ["mcp:admin", "mcp:read"]
 */
export function expandScopes(granted: readonly string[], hierarchy: ScopeHierarchy): string[] {
  const expanded = new Set(granted);
  for (const scope of granted) {
    for (const included of hierarchy.get(scope) ?? []) {
      expanded.add(included);
    }
  }
  return [...expanded];
}

function collectIncluded(scope: string, direct: Readonly<Record<string, readonly string[]>>): Set<string> {
  const included = new Set<string>();
  const pending = [...(direct[scope] ?? [])];
  while (pending.length > 0) {
    const next = pending.pop() as string;
    if (next === scope || included.has(next)) {
      continue;
    }
    included.add(next);
    pending.push(...(Object.hasOwn(direct, next) ? direct[next] ?? [] : []));
  }
  return included;
}
