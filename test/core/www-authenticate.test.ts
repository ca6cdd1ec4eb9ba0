import { describe, expect, it } from "vitest";

import { buildBearerChallenge, parseAuthorizationHeader } from "../../lib/core/www-authenticate.js";

const METADATA = "https://x/.well-known/oauth-protected-resource/mcp";

// Reads `Bearer name="value", ...` strictly: every attribute must be a
// quoted-string (RFC 9110 §5.6.4) and the whole value must be consumed.
function parseChallenge(header: string): Map<string, string> {
  expect(header.startsWith("Bearer")).toBe(true);
  const attributes = new Map<string, string>();
  const pattern = /([a-z_]+)="((?:[\t\x20\x21\x23-\x5B\x5D-\x7E]|\\[\t\x20-\x7E])*)"(, |$)/y;
  pattern.lastIndex = header === "Bearer" ? header.length : "Bearer ".length;

  while (pattern.lastIndex < header.length) {
    const match = pattern.exec(header);
    expect(match, `unparsable challenge at ${pattern.lastIndex}: ${header}`).not.toBeNull();
    const [, name = "", quoted = ""] = match ?? [];
    expect(attributes.has(name), `duplicate attribute ${name}`).toBe(false);
    attributes.set(name, quoted.replace(/\\(.)/g, "$1"));
  }

  return attributes;
}

describe("buildBearerChallenge", () => {
  it("formats an invalid_token challenge", () => {
    const header = buildBearerChallenge({
      error: "invalid_token",
      errorDescription: "The access token expired",
      resourceMetadata: METADATA,
    });

    expect(header).toBe(`Bearer error="invalid_token", error_description="The access token expired", resource_metadata="${METADATA}"`);
  });

  it("formats a challenge without error", () => {
    expect(buildBearerChallenge({ resourceMetadata: METADATA, scope: ["mcp:read"] })).toBe(
      `Bearer scope="mcp:read", resource_metadata="${METADATA}"`,
    );
  });

  it("orders every attribute", () => {
    const header = buildBearerChallenge({
      resourceMetadata: METADATA,
      scope: ["mcp:read", "mcp:write"],
      errorDescription: "Needs write access",
      error: "insufficient_scope",
      realm: "mcp",
    });

    expect(header).toBe(
      `Bearer realm="mcp", error="insufficient_scope", error_description="Needs write access", scope="mcp:read mcp:write", resource_metadata="${METADATA}"`,
    );
  });

  it("returns bare scheme without parameters", () => {
    expect(buildBearerChallenge({})).toBe("Bearer");
  });

  it("omits empty values", () => {
    expect(buildBearerChallenge({ realm: "", error: "", errorDescription: "", scope: [], resourceMetadata: "" })).toBe("Bearer");
  });

  it("omits scope with only invalid tokens", () => {
    expect(buildBearerChallenge({ scope: ['a"b', "c\\d", "", "e f"], resourceMetadata: METADATA })).toBe(
      `Bearer resource_metadata="${METADATA}"`,
    );
  });

  it("drops invalid scope tokens", () => {
    expect(buildBearerChallenge({ scope: ["mcp:read", 'bad"', "mcp:write"] })).toBe('Bearer scope="mcp:read mcp:write"');
  });

  it("escapes quotes and backslashes", () => {
    expect(buildBearerChallenge({ realm: 'a "b" \\c' })).toBe('Bearer realm="a \\"b\\" \\\\c"');
  });

  it("strips description to RFC 6749 charset", () => {
    const header = buildBearerChallenge({ error: "invalid_token", errorDescription: 'Bad "token" \\ here\r\nX-Injected: 1 é' });

    expect(header).toBe('Bearer error="invalid_token", error_description="Bad token  hereX-Injected: 1 "');
  });

  it("removes CR and LF everywhere", () => {
    const header = buildBearerChallenge({
      realm: "a\r\nb",
      error: "invalid_token\r\nSet-Cookie: x=1",
      resourceMetadata: `${METADATA}\n`,
    });

    expect(header).not.toMatch(/[\r\n]/);
    expect(header).toBe(`Bearer realm="ab", error="invalid_tokenSet-Cookie: x=1", resource_metadata="${METADATA}"`);
  });

  it("output parses back to inputs", () => {
    const inputs = [
      { realm: 'r"e\\alm', error: "invalid_token", errorDescription: 'a "quoted" \\ text', scope: ["mcp:read", "x"], resourceMetadata: METADATA },
      { error: "insufficient_scope", scope: ["mcp:write"] },
      { resourceMetadata: METADATA },
      {},
    ];

    for (const input of inputs) {
      const attributes = parseChallenge(buildBearerChallenge(input));

      expect(attributes.get("realm")).toBe(input.realm);
      expect(attributes.get("error")).toBe(input.error);
      expect(attributes.get("scope")).toBe(input.scope?.join(" "));
      expect(attributes.get("resource_metadata")).toBe(input.resourceMetadata);
      expect(attributes.size).toBe(Object.keys(input).length);
    }
  });

  it("description survives parsing sanitized", () => {
    const attributes = parseChallenge(buildBearerChallenge({ errorDescription: 'a "quoted" \\ text' }));

    expect(attributes.get("error_description")).toBe("a quoted  text");
  });
});

describe("parseAuthorizationHeader", () => {
  const bearer: Array<[string, string]> = [
    ["Bearer abc", "abc"],
    ["bearer abc", "abc"],
    ["BEARER abc", "abc"],
    ["BeArEr abc", "abc"],
    ["Bearer   abc", "abc"],
    [" Bearer abc ", "abc"],
    ["Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"],
    ["Bearer A-Za-z0-9._~+/", "A-Za-z0-9._~+/"],
    ["Bearer abc==", "abc=="],
  ];

  for (const [header, token] of bearer) {
    it(`reads token from ${JSON.stringify(header)}`, () => {
      expect(parseAuthorizationHeader(header)).toEqual({ kind: "bearer", token });
    });
  }

  it("returns none without header", () => {
    expect(parseAuthorizationHeader(undefined)).toEqual({ kind: "none" });
    expect(parseAuthorizationHeader("")).toEqual({ kind: "none" });
  });

  it("returns other for other schemes", () => {
    for (const header of ["Basic dXNlcjpwYXNz", "DPoP abc", "Bearerabc", "Negotiate", "Digest realm=\"x\", nonce=\"y\""]) {
      expect(parseAuthorizationHeader(header), header).toEqual({ kind: "other" });
    }
  });

  const malformed: Array<[string, string]> = [
    ["Bearer", "The Authorization header has the Bearer scheme but no token"],
    ["Bearer ", "The Authorization header has the Bearer scheme but no token"],
    ["bearer    ", "The Authorization header has the Bearer scheme but no token"],
    ["Bearer a b", "The Authorization header must contain exactly one Bearer token"],
    ["Bearer a, b", "The Authorization header must contain exactly one Bearer token"],
    ["Bearer a\tb", "The Authorization header must contain exactly one Bearer token"],
    ["Bearer abc=def", "The Bearer token contains characters that are not allowed"],
    ["Bearer =abc", "The Bearer token contains characters that are not allowed"],
    ['Bearer "abc"', "The Bearer token contains characters that are not allowed"],
    ["Bearer abc,", "The Bearer token contains characters that are not allowed"],
    ["Bearer ab\u00e9", "The Bearer token contains characters that are not allowed"],
    ['Bearer realm="x"', "The Bearer token contains characters that are not allowed"],
    ["Bearer\tabc", "The Authorization header is not a valid credentials value"],
    ["   ", "The Authorization header is not a valid credentials value"],
    [",Bearer abc", "The Authorization header is not a valid credentials value"],
    ["Bearer: abc", "The Authorization header is not a valid credentials value"],
  ];

  for (const [header, reason] of malformed) {
    it(`rejects ${JSON.stringify(header)}`, () => {
      expect(parseAuthorizationHeader(header)).toEqual({ kind: "malformed", reason });
    });
  }
});
