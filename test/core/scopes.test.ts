import { describe, expect, it } from "vitest";

import { formatScope, isValidScopeToken, missingScopes, parseScope } from "../../lib/core/scopes.js";

describe("parseScope", () => {
  const valid: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ["", []],
    [" ", []],
    ["mcp:read", ["mcp:read"]],
    ["mcp:read mcp:write", ["mcp:read", "mcp:write"]],
    ["  mcp:read   mcp:write  ", ["mcp:read", "mcp:write"]],
    ["b a b a", ["b", "a"]],
    ["openid profile email", ["openid", "profile", "email"]],
    ["https://api.example.com/read", ["https://api.example.com/read"]],
    ["!#[]~", ["!#[]~"]],
  ];

  for (const [input, expected] of valid) {
    it(`splits ${JSON.stringify(input)}`, () => {
      expect(parseScope(input)).toEqual(expected);
    });
  }

  const invalid: Array<[string, string]> = [
    ["a double quote", 'mcp:read a"b'],
    ["a backslash", "mcp:read a\\b"],
    ["a tab separator", "mcp:read\tmcp:write"],
    ["a newline", "mcp:read\nmcp:write"],
    ["a DEL character", "mcp:read\x7F"],
    ["a non-ASCII letter", "mcp:lire é"],
    ["a control character", "mcp\x01read"],
  ];

  for (const [name, input] of invalid) {
    it(`rejects ${name}`, () => {
      expect(parseScope(input)).toBeUndefined();
    });
  }
});

describe("isValidScopeToken", () => {
  it("accepts the RFC 6749 charset", () => {
    expect(isValidScopeToken("\x21\x23\x5B\x5D\x7E")).toBe(true);
  });

  it("rejects excluded characters", () => {
    for (const value of ["", " ", '"', "\\", "\x7F", "a b", "é"]) {
      expect(isValidScopeToken(value), JSON.stringify(value)).toBe(false);
    }
  });
});

describe("formatScope", () => {
  it("joins scopes with spaces", () => {
    expect(formatScope(["mcp:read", "mcp:write"])).toBe("mcp:read mcp:write");
    expect(formatScope(["mcp:read"])).toBe("mcp:read");
    expect(formatScope([])).toBe("");
  });

  it("round-trips through parseScope", () => {
    const scopes = ["openid", "mcp:read", "offline_access"];

    expect(parseScope(formatScope(scopes))).toEqual(scopes);
  });
});

describe("missingScopes", () => {
  const cases: Array<[string[], string[], string[]]> = [
    [["mcp:read"], ["mcp:read"], []],
    [["mcp:read", "mcp:write"], ["mcp:write"], []],
    [["mcp:read"], ["mcp:read", "mcp:write"], ["mcp:write"]],
    [[], ["mcp:read", "mcp:write"], ["mcp:read", "mcp:write"]],
    [["mcp:read"], [], []],
    [["mcp:read"], ["mcp:admin", "mcp:write", "mcp:admin"], ["mcp:admin", "mcp:write"]],
    [["MCP:READ"], ["mcp:read"], ["mcp:read"]],
  ];

  for (const [granted, required, expected] of cases) {
    it(`lists ${JSON.stringify(expected)} for ${JSON.stringify(required)}`, () => {
      expect(missingScopes(granted, required)).toEqual(expected);
    });
  }
});
