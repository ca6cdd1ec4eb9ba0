import { describe, expect, it } from "vitest";
import { MemoryTokenStore, OAuthClient } from "../../lib/client/index.js";
import type { OAuthClientOptions } from "../../lib/client/index.js";
import { browserCommand } from "../../lib/client/browser.js";

describe("OAuthClient options", () => {
  const store = new MemoryTokenStore();
  const cases: Array<[string, Partial<OAuthClientOptions>, string]> = [
    ["a non-http serverUrl", { serverUrl: "ftp://mcp.example.com" }, 'Invalid option serverUrl: "ftp://mcp.example.com". Pass the http(s) URL of the MCP endpoint'],
    ["a secret without a client ID", { clientSecret: "s" }, "Invalid option clientSecret: \"(set)\". A clientSecret needs the clientId it belongs to"],
    ["an unknown auth method", { clientId: "c", tokenEndpointAuthMethod: "private_key_jwt" }, 'Invalid option tokenEndpointAuthMethod: "private_key_jwt"'],
    ["an http metadata document URL", { clientMetadataUrl: "http://app.example.com/client.json" }, "Invalid option clientMetadataUrl"],
    ["a metadata document URL without a path", { clientMetadataUrl: "https://app.example.com/" }, "Invalid option clientMetadataUrl"],
    ["a port out of range", { callbackPort: 70_000 }, "Invalid option callbackPort: 70000. Use a port from 0 to 65535"],
    ["a callback path without a slash", { callbackPath: "callback" }, 'Invalid option callbackPath: "callback"'],
    ["a zero timeout", { authorizationTimeout: 0 }, "Invalid option authorizationTimeout: 0"],
    ["a negative refresh window", { refreshBefore: -1 }, "Invalid option refreshBefore: -1"],
  ];

  for (const [name, options, message] of cases) {
    it(`rejects ${name}`, () => {
      const create = (): OAuthClient => new OAuthClient({ serverUrl: "https://mcp.example.com/mcp", store, ...options });

      expect(create).toThrow(message);
    });
  }

  it("derives the loopback redirect URL from the options", () => {
    const oauth = new OAuthClient({ serverUrl: "https://mcp.example.com/mcp", store, callbackPort: 8765, callbackPath: "/done" });

    expect(oauth.redirectUrl).toBe("http://127.0.0.1:8765/done");
    expect(oauth.clientMetadata.redirect_uris).toEqual(["http://127.0.0.1:8765/done"]);
    expect(oauth.clientMetadata.token_endpoint_auth_method).toBe("none");
  });
});

describe("browserCommand", () => {
  const url = "https://as.example.com/authorize?a=1&b=2";

  it("uses the platform command", () => {
    expect(browserCommand(url, "darwin", {})).toEqual({ command: "open", args: [url], verbatim: false });
    expect(browserCommand(url, "win32", {})).toEqual({ command: "cmd.exe", args: ["/d", "/s", "/c", `start "" "${url}"`], verbatim: true });
    expect(browserCommand(url, "linux", { DISPLAY: ":0" })).toEqual({ command: "xdg-open", args: [url], verbatim: false });
    expect(browserCommand(url, "linux", { WAYLAND_DISPLAY: "wayland-0" })?.command).toBe("xdg-open");
  });

  it("prints only when there is no display", () => {
    expect(browserCommand(url, "linux", {})).toBeUndefined();
  });
});
