import { describe, expect, it } from "vitest";
import { OAuthProvider, oauthProxy, OptionError } from "mcp-oauth-proxy";
import type { OAuthProxyOptions } from "mcp-oauth-proxy";

const provider = new OAuthProvider({
  clientId: "proxy",
  clientSecret: "upstream-secret",
  authorizationEndpoint: "https://idp.example.com/authorize",
  tokenEndpoint: "https://idp.example.com/token",
});
const secret = "s".repeat(32);

function attempt(options: Record<string, unknown>): OptionError {
  try {
    const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret, ...options } as OAuthProxyOptions);
    void proxy.close();
  } catch (error) {
    if (error instanceof OptionError) {
      return error;
    }
    throw error;
  }
  throw new Error(`oauthProxy accepted ${JSON.stringify(options)}`);
}

describe("oauthProxy options", () => {
  const cases: Array<{ options: Record<string, unknown>; option: string; shows: string; fix: RegExp }> = [
    { options: { baseUrl: undefined }, option: "baseUrl", shows: "undefined", fix: /public URL of the app root/ },
    { options: { baseUrl: "mcp.example.com" }, option: "baseUrl", shows: '"mcp.example.com"', fix: /public URL/ },
    { options: { baseUrl: "http://mcp.example.com" }, option: "baseUrl", shows: '"http://mcp.example.com"', fix: /https/ },
    { options: { baseUrl: "https://mcp.example.com/?x=1" }, option: "baseUrl", shows: "x=1", fix: /no query/ },
    { options: { baseUrl: "ftp://mcp.example.com" }, option: "baseUrl", shows: "ftp://", fix: /https/ },
    { options: { provider: {} }, option: "provider", shows: "an object", fix: /provider instance/ },
    { options: { provider: undefined }, option: "provider", shows: "undefined", fix: /provider instance/ },
    { options: { secret: 42 }, option: "secret", shows: "number", fix: /string or Buffer/ },
    { options: { storage: { get() {} } }, option: "storage", shows: "an object", fix: /Storage methods/ },
    { options: { resource: [] }, option: "resource", shows: "[]", fix: /path such as/ },
    { options: { resource: "https://other.example.com/mcp" }, option: "resource", shows: "other.example.com", fix: /absolute URL on https:\/\/mcp.example.com/ },
    { options: { resource: ["/mcp", "/mcp"] }, option: "resource", shows: '["/mcp","/mcp"]', fix: /once/ },
    { options: { scopes: ["mcp read"] }, option: "scopes", shows: '["mcp read"]', fix: /without spaces/ },
    { options: { scopes: ["mcp:read"], defaultScopes: ["mcp:write"] }, option: "defaultScopes", shows: '["mcp:write"]', fix: /also be listed in scopes/ },
    { options: { accessTokenTtl: 0 }, option: "accessTokenTtl", shows: "0", fix: /whole number of seconds/ },
    { options: { refreshTokenTtl: 1.5 }, option: "refreshTokenTtl", shows: "1.5", fix: /whole number of seconds/ },
    { options: { clientTtl: "60" }, option: "clientTtl", shows: '"60"', fix: /whole number of seconds/ },
    { options: { resourceName: "" }, option: "resourceName", shows: '""', fix: /non-empty string/ },
  ];

  for (const { options, option, shows, fix } of cases) {
    it(`rejects ${option}=${JSON.stringify(Object.values(options)[0]) ?? "undefined"}`, () => {
      const error = attempt(options);
      expect(error.code).toBe("ERR_MCP_OAUTH_PROXY_OPTION");
      expect(error.option).toBe(option);
      expect(error.message).toContain(`Invalid option ${option}`);
      expect(error.message).toContain(shows);
      expect(error.message).toMatch(fix);
    });
  }

  it("rejects a short secret without showing it", () => {
    const error = attempt({ secret: "hunter2-hunter2" });
    expect(error.option).toBe("secret");
    expect(error.message).toContain("15 bytes");
    expect(error.message).toContain("at least 32 bytes");
    expect(error.message).not.toContain("hunter2");
  });

  it("accepts http only for loopback base URLs", () => {
    for (const baseUrl of ["http://127.0.0.1:3000", "http://localhost:8080", "http://[::1]:9000"]) {
      const proxy = oauthProxy({ baseUrl, provider, secret });
      expect(proxy.metadata.issuer).toBe(baseUrl);
      void proxy.close();
    }
  });

  it("derives the issuer, callback URL and path-inserted metadata from baseUrl", () => {
    const proxy = oauthProxy({ baseUrl: "https://mcp.example.com/tenant/", provider, secret });
    expect(proxy.metadata.issuer).toBe("https://mcp.example.com/tenant");
    expect(proxy.callbackUrl).toBe("https://mcp.example.com/tenant/oauth/callback");
    expect(proxy.metadata.token_endpoint).toBe("https://mcp.example.com/tenant/oauth/token");
    void proxy.close();
  });

  it("rejects bearer used without parentheses", () => {
    const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret });
    expect(() => (proxy.bearer as unknown as (...args: unknown[]) => unknown)({ headers: {}, method: "GET" }, {}, () => {}))
      .toThrow(/proxy\.bearer\(\)/);
    void proxy.close();
  });

  it("rejects unknown bearer resources and bad scopes", () => {
    const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret });
    expect(() => proxy.bearer({ resource: "/other" })).toThrow(/Invalid option bearer\(\{ resource \}\): "\/other"/);
    expect(() => proxy.bearer({ scopes: ["two words"] })).toThrow(/Invalid option bearer\(\{ scopes \}\)/);
    void proxy.close();
  });
});

describe("oauthProxy unknown options", () => {
  it("names a misspelled option and its fix", () => {
    const error = attempt({ accessTokenTTL: 60 });
    expect(error.option).toBe("accessTokenTTL");
    expect(error.message).toBe("Unknown option accessTokenTTL. Did you mean accessTokenTtl?");
  });

  it("lists the options for an unrelated name", () => {
    const error = attempt({ colour: "blue" });
    expect(error.message).toContain("Known options: baseUrl, provider, secret");
  });

  it("rejects a non-boolean allowPlainPkce", () => {
    const error = attempt({ allowPlainPkce: "yes" });
    expect(error.message).toBe('Invalid option allowPlainPkce: "yes". Pass true or false.');
  });
});
