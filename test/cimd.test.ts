import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { OIDCProvider, OptionError, oauthProxy } from "mcp-oauth-proxy";
import { isNonPublicAddress } from "../lib/client-metadata/address.js";
import { cacheLifetime } from "../lib/client-metadata/cache.js";
import { checkClientIdUrl, clientIdHost, isAllowedHost, isUrlClientId } from "../lib/client-metadata/client-id-url.js";
import { parseClientMetadataDocument } from "../lib/client-metadata/document.js";
import { DocumentFetchError, fetchDocument, resolveAddress } from "../lib/client-metadata/fetch.js";
import { resolveClientMetadataOptions } from "../lib/client-metadata/options.js";
import type { ClientMetadataSettings } from "../lib/client-metadata/options.js";
import { ClientMetadataError, ClientMetadataResolver } from "../lib/client-metadata/resolver.js";
import { blockOutgoingTls, mapHosts, startDocumentServer } from "./helpers/document-server.js";
import type { DocumentServer } from "./helpers/document-server.js";

const REDIRECT_URI = "http://127.0.0.1:3000/callback";

let server: DocumentServer;

beforeAll(async () => {
  server = await startDocumentServer("app.example.com");
});

afterAll(async () => {
  await server.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Settings that reach the local document server through a fixed host table. */
function settings(overrides: Partial<ClientMetadataSettings> = {}): ClientMetadataSettings {
  return {
    ...(resolveClientMetadataOptions({ allowPrivateNetworks: true, ca: server.ca, timeoutMs: 1000 }) as ClientMetadataSettings),
    lookup: mapHosts({ "app.example.com": "127.0.0.1" }),
    ...overrides,
  };
}

function documentFor(clientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { client_id: clientId, client_name: "Example app", redirect_uris: [REDIRECT_URI], ...extra };
}

let pathCounter = 0;

/** Publishes a document under a fresh path and returns its client id. */
function publish(extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): string {
  pathCounter += 1;
  const path = `/clients/${pathCounter}.json`;
  const clientId = server.origin + path;
  server.publish(path, { body: documentFor(clientId, extra), headers });
  return clientId;
}

function requestsFor(clientId: string): number {
  const path = new URL(clientId).pathname;
  return server.requests.filter((entry) => entry.path === path).length;
}

describe("isUrlClientId", () => {
  it("tells URLs from sealed client ids", () => {
    expect(isUrlClientId("https://app.example.com/client.json")).toBe(true);
    expect(isUrlClientId("http://app.example.com/client.json")).toBe(true);
    expect(isUrlClientId("cursor://anything")).toBe(true);
    expect(isUrlClientId("Ab3dEf9h.eyJ0ZXN0IjoxfQ-_x")).toBe(false);
    expect(isUrlClientId("")).toBe(false);
  });
});

describe("checkClientIdUrl", () => {
  const valid = [
    "https://app.example.com/client.json",
    "https://app.example.com/",
    "https://app.example.com:8443/a/b/client.json",
    "https://app.example.com/client.json?version=2",
    "https://[2001:db8::1]/client.json",
  ];

  for (const clientId of valid) {
    it(`accepts ${clientId}`, () => {
      expect(checkClientIdUrl(clientId)).toBeUndefined();
    });
  }

  const invalid: Array<[string, RegExp]> = [
    ["http://app.example.com/client.json", /must start with https:\/\//],
    ["HTTPS://app.example.com/client.json", /must start with https:\/\//],
    ["https://app.example.com", /must have a path/],
    ["https://app.example.com?x=1", /must have a path/],
    ["https://app.example.com/client.json#f", /fragment/],
    ["https://app.example.com/client.json#", /fragment/],
    ["https://u:p@app.example.com/client.json", /user name or password/],
    ["https://u@app.example.com/client.json", /user name or password/],
    ["https://app.example.com/a/../client.json", /"\." or "\.\." path segments/],
    ["https://app.example.com/./client.json", /"\." or "\.\." path segments/],
    ["https://app.example.com/a/%2e%2E/client.json", /"\." or "\.\." path segments/],
    ["https://app.example.com/a/%2e/client.json", /"\." or "\.\." path segments/],
    ["https://app.example.com/a/..", /"\." or "\.\." path segments/],
    ["https:///client.json", /must have a host/],
    ["https://:443/client.json", /must have a host/],
    ["https://app.example.com\\client.json", /not allowed in a URI/],
    ["https://app.example.com/client json", /not allowed in a URI/],
    ["https://app.exämple.com/client.json", /not allowed in a URI/],
    ["https://APP.example.com/client.json", /canonical form \(https:\/\/app\.example\.com\/client\.json\)/],
    ["https://app.example.com:443/client.json", /canonical form/],
    ["https://2130706433/client.json", /canonical form \(https:\/\/127\.0\.0\.1\/client\.json\)/],
    ["https://app.example.com:99999/client.json", /not a valid URL/],
    [`https://app.example.com/${"a".repeat(2000)}`, /longer than 2000 characters/],
  ];

  for (const [clientId, reason] of invalid) {
    it(`rejects ${clientId.slice(0, 60)}`, () => {
      expect(checkClientIdUrl(clientId)).toMatch(reason);
    });
  }
});

describe("isAllowedHost", () => {
  it("matches exact names and wildcard subdomains", () => {
    expect(isAllowedHost("app.example.com", ["app.example.com"])).toBe(true);
    expect(isAllowedHost("APP.example.com", ["app.example.com"])).toBe(true);
    expect(isAllowedHost("other.example.com", ["app.example.com"])).toBe(false);
    expect(isAllowedHost("a.b.example.org", ["*.example.org"])).toBe(true);
    expect(isAllowedHost("example.org", ["*.example.org"])).toBe(false);
    expect(isAllowedHost("evilexample.org", ["*.example.org"])).toBe(false);
  });
});

describe("clientIdHost", () => {
  it("returns the host with its port", () => {
    expect(clientIdHost("https://app.example.com/client.json")).toBe("app.example.com");
    expect(clientIdHost("https://app.example.com:8443/client.json")).toBe("app.example.com:8443");
    expect(clientIdHost("not a url")).toBeUndefined();
  });
});

describe("isNonPublicAddress", () => {
  const nonPublic = [
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255", "127.0.0.1", "127.1.2.3",
    "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1", "198.18.0.1",
    "198.51.100.7", "203.0.113.9", "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:a9fe:a9fe", "::ffff:192.168.0.1",
    "::127.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "2002:a00:1::1", "2002:7f00:1::",
    "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "ff02::1", "2001:db8::1", "2001::1",
    "100::1", "192.88.99.1", "::ffff:0:7f00:1", "::ffff:0:a00:1", "not-an-address", "",
  ];
  for (const address of nonPublic) {
    it(`rejects ${address === "" ? "an empty string" : address}`, () => {
      expect(isNonPublicAddress(address)).toBe(true);
    });
  }

  const publicAddresses = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
    "192.167.255.255", "192.169.0.1", "169.253.0.1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    "2606:4700:4700::1111", "2a00:1450:4001::200e",
  ];
  for (const address of publicAddresses) {
    it(`accepts ${address}`, () => {
      expect(isNonPublicAddress(address)).toBe(false);
    });
  }
});

describe("resolveAddress", () => {
  const forbidden: Array<[string, string | string[]]> = [
    ["loopback", "127.0.0.1"],
    ["private 10/8", "10.0.0.1"],
    ["cloud metadata", "169.254.169.254"],
    ["IPv6 loopback", "::1"],
    ["IPv4-mapped loopback", "::ffff:127.0.0.1"],
    ["unique local", "fd00::1"],
    ["a public and a private answer", ["93.184.215.14", "10.0.0.1"]],
  ];

  for (const [name, answer] of forbidden) {
    it(`rejects a host resolving to ${name}`, async () => {
      const lookup = mapHosts({ "docs.example.net": answer });

      await expect(resolveAddress("docs.example.net", { lookup, allowPrivateNetworks: false })).rejects.toThrow(
        new DocumentFetchError("its host is not on a public internet address"),
      );
      expect(lookup.queried).toEqual(["docs.example.net"]);
    });
  }

  it("returns the first address of a public host", async () => {
    const lookup = mapHosts({ "docs.example.net": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"] });

    await expect(resolveAddress("docs.example.net", { lookup, allowPrivateNetworks: false })).resolves.toEqual({ address: "93.184.215.14", family: 4 });
  });

  it("accepts private addresses when allowed", async () => {
    const lookup = mapHosts({ "docs.example.net": "10.0.0.1" });

    await expect(resolveAddress("docs.example.net", { lookup, allowPrivateNetworks: true })).resolves.toEqual({ address: "10.0.0.1", family: 4 });
  });

  it("checks IP literals without a lookup", async () => {
    const lookup = mapHosts({});

    await expect(resolveAddress("169.254.169.254", { lookup, allowPrivateNetworks: false })).rejects.toThrow(DocumentFetchError);
    await expect(resolveAddress("[::1]", { lookup, allowPrivateNetworks: false })).rejects.toThrow(DocumentFetchError);
    await expect(resolveAddress("[2606:4700::1111]", { lookup, allowPrivateNetworks: false })).resolves.toEqual({ address: "2606:4700::1111", family: 6 });
    expect(lookup.queried).toEqual([]);
  });

  it("ignores lookup entries that are not IP addresses", async () => {
    const lookup = async () => [{ address: "not-an-ip", family: 4 as const }, { address: "93.184.215.14", family: 6 as const }];
    const broken = async () => "10.0.0.1" as unknown as [];

    await expect(resolveAddress("docs.example.net", { lookup, allowPrivateNetworks: false })).resolves.toEqual({ address: "93.184.215.14", family: 4 });
    await expect(resolveAddress("docs.example.net", { lookup: broken, allowPrivateNetworks: false })).rejects.toThrow("its host name could not be resolved");
  });

  it("reports names that do not resolve", async () => {
    const lookup = mapHosts({ "empty.example.net": [] });

    await expect(resolveAddress("missing.example.net", { lookup, allowPrivateNetworks: false })).rejects.toThrow("its host name could not be resolved");
    await expect(resolveAddress("empty.example.net", { lookup, allowPrivateNetworks: false })).rejects.toThrow("its host name could not be resolved");
  });
});

describe("cacheLifetime", () => {
  const cases: Array<[string | undefined, number, number]> = [
    [undefined, 86400, 300],
    ["", 86400, 300],
    ["public, max-age=60", 86400, 60],
    ["MAX-AGE=120", 86400, 120],
    ['max-age="90"', 86400, 90],
    ["max-age=0", 86400, 0],
    ["max-age=604800", 86400, 86400],
    ["max-age=60", 30, 30],
    [undefined, 100, 100],
    ["no-store", 86400, 0],
    ["max-age=60, no-cache", 86400, 0],
    ["max-age=abc", 86400, 300],
    ["private", 86400, 300],
  ];

  for (const [header, max, expected] of cases) {
    it(`gives ${expected} s for ${JSON.stringify(header)} with a ${max} s cap`, () => {
      expect(cacheLifetime(header, max)).toBe(expected);
    });
  }
});

describe("parseClientMetadataDocument", () => {
  const clientId = "https://app.example.com/client.json";

  it("returns a public client", () => {
    const client = parseClientMetadataDocument(clientId, JSON.stringify({
      ...documentFor(clientId),
      client_uri: "https://app.example.com",
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      logo_uri: "javascript:alert(1)",
    }));

    expect(client).toMatchObject({
      client_id: clientId,
      client_name: "Example app",
      client_uri: "https://app.example.com",
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    });
    expect(client).not.toHaveProperty("logo_uri");
    expect(client).not.toHaveProperty("client_secret_expires_at");
  });

  it("defaults grant_types to both supported grants", () => {
    const client = parseClientMetadataDocument(clientId, JSON.stringify(documentFor(clientId)));

    expect(client.grant_types).toEqual(["authorization_code", "refresh_token"]);
  });

  const invalid: Array<[string, string, RegExp]> = [
    ["non-JSON", "<html>hello</html>", /not valid JSON/],
    ["an array", "[]", /not a JSON object/],
    ["null", "null", /not a JSON object/],
    ["another client_id", JSON.stringify(documentFor("https://app.example.com/other.json")), /client_id is not the URL/],
    ["a normalized client_id", JSON.stringify(documentFor("https://APP.example.com/client.json")), /client_id is not the URL/],
    ["no client_id", JSON.stringify({ client_name: "x", redirect_uris: [REDIRECT_URI] }), /client_id is not the URL/],
    ["client_secret_post", JSON.stringify(documentFor(clientId, { token_endpoint_auth_method: "client_secret_post" })), /needs a shared secret/],
    ["client_secret_basic", JSON.stringify(documentFor(clientId, { token_endpoint_auth_method: "client_secret_basic" })), /needs a shared secret/],
    ["client_secret_jwt", JSON.stringify(documentFor(clientId, { token_endpoint_auth_method: "client_secret_jwt" })), /needs a shared secret/],
    ["private_key_jwt", JSON.stringify(documentFor(clientId, { token_endpoint_auth_method: "private_key_jwt" })), /must be "none"/],
    ["a client_secret", JSON.stringify(documentFor(clientId, { client_secret: "s3cret" })), /contains a client_secret/],
    ["client_secret_expires_at", JSON.stringify(documentFor(clientId, { client_secret_expires_at: 0 })), /contains a client_secret/],
    ["no client_name", JSON.stringify({ client_id: clientId, redirect_uris: [REDIRECT_URI] }), /client_name must be/],
    ["a blank client_name", JSON.stringify(documentFor(clientId, { client_name: "  " })), /client_name must be/],
    ["a long client_name", JSON.stringify(documentFor(clientId, { client_name: "x".repeat(201) })), /client_name must be/],
    ["no redirect_uris", JSON.stringify({ client_id: clientId, client_name: "x" }), /redirect_uris must be a non-empty array/],
    ["empty redirect_uris", JSON.stringify(documentFor(clientId, { redirect_uris: [] })), /redirect_uris must be a non-empty array/],
    ["21 redirect_uris", JSON.stringify(documentFor(clientId, { redirect_uris: Array.from({ length: 21 }, (_, i) => `https://app.example.com/cb${i}`) })), /at most 20/],
    ["a javascript: redirect URI", JSON.stringify(documentFor(clientId, { redirect_uris: ["javascript:alert(1)"] })), /redirect_uris\[0\] is rejected/],
    ["a plain http redirect URI", JSON.stringify(documentFor(clientId, { redirect_uris: [REDIRECT_URI, "http://app.example.com/cb"] })), /redirect_uris\[1\] is rejected: The redirect URI must use https/],
    ["a redirect URI with a fragment", JSON.stringify(documentFor(clientId, { redirect_uris: ["https://app.example.com/cb#x"] })), /redirect_uris\[0\] is rejected/],
    ["a non-string redirect URI", JSON.stringify(documentFor(clientId, { redirect_uris: [42] })), /redirect_uris\[0\] must be a string/],
    ["grant_types without authorization_code", JSON.stringify(documentFor(clientId, { grant_types: ["refresh_token"] })), /must include authorization_code/],
    ["grant_types as a string", JSON.stringify(documentFor(clientId, { grant_types: "authorization_code" })), /grant_types must be an array/],
    ["response_types without code", JSON.stringify(documentFor(clientId, { response_types: ["token"] })), /response_types must include "code"/],
  ];

  for (const [name, body, reason] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => parseClientMetadataDocument(clientId, body)).toThrow(reason);
    });
  }
});

describe("fetchDocument", () => {
  it("connects to the resolved address with the URL's host name", async () => {
    const clientId = publish();
    const lookup = mapHosts({ "app.example.com": "127.0.0.1" });

    const fetched = await fetchDocument(new URL(clientId), settings({ lookup }));

    expect(JSON.parse(fetched.body)).toEqual(documentFor(clientId));
    expect(lookup.queried).toEqual(["app.example.com"]);
    expect(server.requests.at(-1)).toEqual({ path: new URL(clientId).pathname, host: `app.example.com:${server.port}` });
  });

  it("resolves the host once, so a changed answer cannot redirect the connection", async () => {
    const clientId = publish();
    // Nothing listens on 127.0.0.2, so a second resolution would make the fetch fail.
    const answers = ["127.0.0.1", "127.0.0.2"];
    const queried: string[] = [];
    const lookup = async (hostname: string) => {
      queried.push(hostname);
      return [{ address: answers.shift() ?? "127.0.0.2", family: 4 as const }];
    };

    const fetched = await fetchDocument(new URL(clientId), settings({ lookup }));

    expect(JSON.parse(fetched.body)).toEqual(documentFor(clientId));
    expect(queried).toEqual(["app.example.com"]);
  });

  it("returns the Cache-Control header", async () => {
    const clientId = publish({}, { "cache-control": "public, max-age=60" });

    const fetched = await fetchDocument(new URL(clientId), settings());

    expect(fetched.cacheControl).toBe("public, max-age=60");
  });

  it("rejects a loopback host without connecting", async () => {
    const clientId = publish();
    const before = server.connections;

    for (const address of ["127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1"]) {
      const lookup = mapHosts({ "app.example.com": address });
      await expect(fetchDocument(new URL(clientId), settings({ lookup, allowPrivateNetworks: false }))).rejects.toThrow("its host is not on a public internet address");
    }
    expect(server.connections).toBe(before);
  });

  it("rejects private and link-local hosts without connecting", async () => {
    const clientId = publish();
    const guard = blockOutgoingTls();
    try {
      for (const address of ["10.0.0.1", "169.254.169.254", "192.168.1.10", "fd00::1", "fe80::1"]) {
        const lookup = mapHosts({ "app.example.com": address });
        await expect(fetchDocument(new URL(clientId), settings({ lookup, allowPrivateNetworks: false }))).rejects.toThrow("its host is not on a public internet address");
      }
      expect(guard.attempts).toBe(0);
    } finally {
      guard.restore();
    }
  });

  it("does not follow redirects", async () => {
    const target = publish();
    server.publish("/moved.json", { status: 302, headers: { location: target }, body: "" });
    const before = requestsFor(target);

    await expect(fetchDocument(new URL(`${server.origin}/moved.json`), settings())).rejects.toThrow("the server responded with a redirect (HTTP 302), which is not followed");
    expect(requestsFor(target)).toBe(before);
  });

  it("rejects error statuses", async () => {
    await expect(fetchDocument(new URL(`${server.origin}/missing.json`), settings())).rejects.toThrow("the server responded with HTTP 404");
  });

  it("rejects a declared length above the limit", async () => {
    server.publish("/large.json", { body: "x".repeat(5121) });

    await expect(fetchDocument(new URL(`${server.origin}/large.json`), settings())).rejects.toThrow("the document is larger than 5120 bytes");
  });

  it("stops reading an undeclared length above the limit", async () => {
    server.publish("/streamed.json", { body: "y".repeat(200_000), headers: { "transfer-encoding": "chunked" } });

    await expect(fetchDocument(new URL(`${server.origin}/streamed.json`), settings())).rejects.toThrow("the document is larger than 5120 bytes");
  });

  it("accepts a document of exactly the limit", async () => {
    server.publish("/exact.json", { body: "z".repeat(5120) });

    const fetched = await fetchDocument(new URL(`${server.origin}/exact.json`), settings());

    expect(fetched.body.length).toBe(5120);
  });

  it("rejects compressed responses", async () => {
    server.publish("/gzip.json", { body: "{}", headers: { "content-encoding": "gzip" } });

    await expect(fetchDocument(new URL(`${server.origin}/gzip.json`), settings())).rejects.toThrow("the response is compressed (gzip), so serve it uncompressed");
  });

  it("times out a server that never answers", async () => {
    server.publish("/hang.json", { hang: true });
    const started = Date.now();

    await expect(fetchDocument(new URL(`${server.origin}/hang.json`), settings({ timeoutMs: 300 }))).rejects.toThrow("the request timed out after 300 ms");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("times out a lookup that never answers", async () => {
    const lookup = () => new Promise<never>(() => undefined);

    await expect(fetchDocument(new URL(`${server.origin}/hang.json`), settings({ lookup, timeoutMs: 200 }))).rejects.toThrow("resolving the host timed out after 200 ms");
  });

  it("rejects a certificate it does not trust", async () => {
    const clientId = publish();

    await expect(fetchDocument(new URL(clientId), settings({ ca: undefined }))).rejects.toThrow(/^the connection failed \(/);
  });

  it("rejects a certificate for another host name", async () => {
    const clientId = publish().replace("app.example.com", "app.example.org");
    const lookup = mapHosts({ "app.example.org": "127.0.0.1" });

    await expect(fetchDocument(new URL(clientId), settings({ lookup }))).rejects.toThrow("the connection failed (ERR_TLS_CERT_ALTNAME_INVALID)");
  });
});

describe("ClientMetadataResolver", () => {
  it("returns the client of a valid document", async () => {
    const clientId = publish();
    const resolver = new ClientMetadataResolver(settings());

    const client = await resolver.resolve(clientId);

    expect(client.client_id).toBe(clientId);
    expect(client.token_endpoint_auth_method).toBe("none");
  });

  it("checks the URL before any lookup", async () => {
    const lookup = mapHosts({ "app.example.com": "127.0.0.1" });
    const resolver = new ClientMetadataResolver(settings({ lookup }));

    await expect(resolver.resolve("http://app.example.com/client.json")).rejects.toThrow(new ClientMetadataError("The client_id URL must start with https://."));
    expect(lookup.queried).toEqual([]);
  });

  it("rejects hosts outside allowHosts before any lookup", async () => {
    const lookup = mapHosts({ "app.example.com": "127.0.0.1" });
    const resolver = new ClientMetadataResolver(settings({ lookup, allowHosts: ["*.example.org"] }));

    await expect(resolver.resolve(publish())).rejects.toThrow("Client metadata documents from app.example.com are not accepted by this server.");
    expect(lookup.queried).toEqual([]);
  });

  it("accepts hosts in allowHosts", async () => {
    const resolver = new ClientMetadataResolver(settings({ allowHosts: ["app.example.com"] }));

    await expect(resolver.resolve(publish())).resolves.toMatchObject({ client_name: "Example app" });
  });

  it("names the URL and the reason in its errors", async () => {
    const resolver = new ClientMetadataResolver(settings());
    const clientId = `${server.origin}/absent.json`;

    const error = await resolver.resolve(clientId).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ClientMetadataError);
    expect((error as ClientMetadataError).error).toBe("invalid_client");
    expect((error as ClientMetadataError).message).toBe(`The client metadata document at ${clientId} could not be fetched: the server responded with HTTP 404.`);
  });

  it("caches a document for its max-age", async () => {
    const clientId = publish({}, { "cache-control": "max-age=60" });
    const resolver = new ClientMetadataResolver(settings());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));

    await resolver.resolve(clientId);
    vi.setSystemTime(new Date("2026-01-01T00:00:59Z"));
    await resolver.resolve(clientId);
    expect(requestsFor(clientId)).toBe(1);

    vi.setSystemTime(new Date("2026-01-01T00:01:01Z"));
    await resolver.resolve(clientId);
    expect(requestsFor(clientId)).toBe(2);
  });

  it("caps the cache lifetime at maxCacheSeconds", async () => {
    const clientId = publish({}, { "cache-control": "max-age=3600" });
    const resolver = new ClientMetadataResolver(settings({ maxCacheSeconds: 10 }));
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));

    await resolver.resolve(clientId);
    vi.setSystemTime(new Date("2026-01-01T00:00:11Z"));
    await resolver.resolve(clientId);

    expect(requestsFor(clientId)).toBe(2);
  });

  it("does not cache a no-store document", async () => {
    const clientId = publish({}, { "cache-control": "no-store" });
    const resolver = new ClientMetadataResolver(settings());

    await resolver.resolve(clientId);
    await resolver.resolve(clientId);

    expect(requestsFor(clientId)).toBe(2);
  });

  it("does not cache failures", async () => {
    const resolver = new ClientMetadataResolver(settings());
    const clientId = `${server.origin}/later.json`;

    await expect(resolver.resolve(clientId)).rejects.toThrow(ClientMetadataError);
    server.publish("/later.json", { body: { client_name: "Later", client_id: clientId, redirect_uris: [REDIRECT_URI] } });

    await expect(resolver.resolve(clientId)).resolves.toMatchObject({ client_name: "Later" });
    expect(requestsFor(clientId)).toBe(2);
  });

  it("does not cache invalid documents", async () => {
    const resolver = new ClientMetadataResolver(settings());
    pathCounter += 1;
    const path = `/clients/${pathCounter}.json`;
    const clientId = server.origin + path;
    server.publish(path, { body: documentFor(clientId, { client_secret: "x" }) });

    await expect(resolver.resolve(clientId)).rejects.toThrow(/is invalid: it contains a client_secret/);
    server.publish(path, { body: documentFor(clientId) });

    await expect(resolver.resolve(clientId)).resolves.toMatchObject({ client_id: clientId });
  });

  it("shares one fetch among concurrent requests", async () => {
    const clientId = publish({}, { "cache-control": "no-store" });
    const resolver = new ClientMetadataResolver(settings());

    const clients = await Promise.all(Array.from({ length: 10 }, () => resolver.resolve(clientId)));

    expect(clients.every((client) => client.client_id === clientId)).toBe(true);
    expect(requestsFor(clientId)).toBe(1);
  });
});

describe("resolveClientMetadataOptions", () => {
  it("is on with defaults unless false", () => {
    expect(resolveClientMetadataOptions(false)).toBeUndefined();
    for (const value of [undefined, true, {}]) {
      expect(resolveClientMetadataOptions(value)).toMatchObject({
        allowHosts: undefined,
        allowPrivateNetworks: false,
        timeoutMs: 5000,
        maxBytes: 5120,
        maxCacheSeconds: 86400,
        ca: undefined,
      });
    }
  });

  it("keeps valid settings", () => {
    const lookup = mapHosts({});
    const resolved = resolveClientMetadataOptions({
      allowHosts: ["App.Example.com", "*.example.org"],
      allowPrivateNetworks: true,
      timeoutMs: 2000,
      maxBytes: 10_000,
      maxCacheSeconds: 0,
      lookup,
      ca: server.ca,
    });

    expect(resolved).toEqual({
      allowHosts: ["app.example.com", "*.example.org"],
      allowPrivateNetworks: true,
      timeoutMs: 2000,
      maxBytes: 10_000,
      maxCacheSeconds: 0,
      lookup,
      ca: [server.ca],
    });
  });

  it("is validated by oauthProxy()", () => {
    const create = () => oauthProxy({
      baseUrl: "https://mcp.example.com",
      provider: new OIDCProvider({ issuer: "https://idp.example.com", clientId: "c", clientSecret: "s" }),
      secret: "x".repeat(32),
      clientIdMetadataDocuments: { timeoutMs: -5 },
    });

    expect(create).toThrow(OptionError);
    expect(create).toThrow("Invalid option clientIdMetadataDocuments.timeoutMs: -5. Pass a whole number of milliseconds from 1 to 60000.");
  });

  it("warns once about private networks in production", () => {
    const emitWarning = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    vi.stubEnv("NODE_ENV", "production");
    try {
      resolveClientMetadataOptions({ allowPrivateNetworks: true });
      resolveClientMetadataOptions({ allowPrivateNetworks: true });
      resolveClientMetadataOptions({});

      expect(emitWarning).toHaveBeenCalledTimes(1);
      expect(emitWarning.mock.calls[0]?.[0]).toMatch(/allowPrivateNetworks is on in production/);
      expect(emitWarning.mock.calls[0]?.[1]).toEqual({ code: "MCP_OAUTH_PROXY_PRIVATE_NETWORKS" });
    } finally {
      vi.unstubAllEnvs();
      emitWarning.mockRestore();
    }
  });

  const invalid: Array<[string, unknown, string]> = [
    ["a string", "yes", "clientIdMetadataDocuments"],
    ["an array", [], "clientIdMetadataDocuments"],
    ["null", null, "clientIdMetadataDocuments"],
    ["allowHosts as a string", { allowHosts: "app.example.com" }, "clientIdMetadataDocuments.allowHosts"],
    ["empty allowHosts", { allowHosts: [] }, "clientIdMetadataDocuments.allowHosts"],
    ["a URL in allowHosts", { allowHosts: ["https://app.example.com"] }, "clientIdMetadataDocuments.allowHosts"],
    ["a bare wildcard in allowHosts", { allowHosts: ["*"] }, "clientIdMetadataDocuments.allowHosts"],
    ["allowPrivateNetworks as a string", { allowPrivateNetworks: "true" }, "clientIdMetadataDocuments.allowPrivateNetworks"],
    ["a zero timeout", { timeoutMs: 0 }, "clientIdMetadataDocuments.timeoutMs"],
    ["a fractional timeout", { timeoutMs: 1.5 }, "clientIdMetadataDocuments.timeoutMs"],
    ["a huge maxBytes", { maxBytes: 10 * 1024 * 1024 }, "clientIdMetadataDocuments.maxBytes"],
    ["a negative maxCacheSeconds", { maxCacheSeconds: -1 }, "clientIdMetadataDocuments.maxCacheSeconds"],
    ["lookup as a string", { lookup: "8.8.8.8" }, "clientIdMetadataDocuments.lookup"],
    ["ca that is not PEM", { ca: "not a certificate" }, "clientIdMetadataDocuments.ca"],
    ["an empty ca list", { ca: [] }, "clientIdMetadataDocuments.ca"],
  ];

  for (const [name, value, option] of invalid) {
    it(`rejects ${name}`, () => {
      let caught: unknown;
      try {
        resolveClientMetadataOptions(value);
      } catch (error) {
        caught = error;
      }

      expect(caught).toBeInstanceOf(OptionError);
      expect((caught as OptionError).option).toBe(option);
      expect((caught as OptionError).code).toBe("ERR_MCP_OAUTH_PROXY_OPTION");
    });
  }
});
