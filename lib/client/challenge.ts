/** The parameters of a Bearer challenge that drive sign-in (RFC 6750 §3, RFC 9728 §5.1). */
export interface BearerChallenge {
  /** URL of the protected resource metadata. */
  resourceMetadata: string | undefined;
  /** Space-separated scopes the resource requires. */
  scope: string | undefined;
  /** `invalid_token`, `insufficient_scope` or another RFC 6750 §3.1 code. */
  error: string | undefined;
}

// auth-param = token BWS "=" BWS ( token / quoted-string ) (RFC 9110 §11.2).
const AUTH_PARAM = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))/y;
const SCHEME = /([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s|$|,)/y;

/**
 * Reads the Bearer challenge from `WWW-Authenticate` header values, or returns
 * `undefined` when none of them has one. Other schemes in the same header are skipped.
 *
 * @example
 * parseBearerChallenge('Bearer scope="mcp:read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"');
 */
export function parseBearerChallenge(header: string | null | undefined): BearerChallenge | undefined {
  if (!header) {
    return undefined;
  }

  for (const challenge of splitChallenges(header)) {
    if (challenge.scheme.toLowerCase() === "bearer") {
      return {
        resourceMetadata: challenge.params.get("resource_metadata"),
        scope: challenge.params.get("scope"),
        error: challenge.params.get("error"),
      };
    }
  }
  return undefined;
}

interface Challenge {
  scheme: string;
  params: Map<string, string>;
}

// A header may hold several challenges, each a scheme followed by comma-separated
// auth-params, so a comma alone cannot tell where the next challenge starts.
function splitChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let position = 0;

  while (position < header.length) {
    position = skipSeparators(header, position);
    SCHEME.lastIndex = position;
    const scheme = SCHEME.exec(header);
    if (scheme === null) {
      // A token68 (RFC 9110 §11.2) or stray text: move on to the next comma.
      const comma = header.indexOf(",", position);
      position = comma === -1 ? header.length : comma + 1;
      continue;
    }
    const challenge: Challenge = { scheme: scheme[1] ?? "", params: new Map() };
    challenges.push(challenge);
    position = SCHEME.lastIndex;

    for (;;) {
      const next = skipSeparators(header, position);
      AUTH_PARAM.lastIndex = next;
      const param = AUTH_PARAM.exec(header);
      if (param === null) {
        break;
      }
      const value = param[2] === undefined ? param[3] ?? "" : param[2].replace(/\\(.)/g, "$1");
      challenge.params.set((param[1] ?? "").toLowerCase(), value);
      position = AUTH_PARAM.lastIndex;
    }
  }
  return challenges;
}

function skipSeparators(header: string, position: number): number {
  let index = position;
  while (index < header.length && (header[index] === "," || header[index] === " " || header[index] === "\t")) {
    index += 1;
  }
  return index;
}
