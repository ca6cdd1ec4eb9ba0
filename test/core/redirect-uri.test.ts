import { describe, expect, it } from "vitest";

import { checkRedirectUriForRegistration, isLoopbackRedirectUri, matchRedirectUri } from "../../lib/core/redirect-uri.js";

describe("checkRedirectUriForRegistration", () => {
  const accepted = [
    "https://app.example.com/cb",
    "https://app.example.com/cb?tenant=1",
    "https://app.example.com:8443/oauth/callback",
    "https://[2001:db8::1]/cb",
    "http://127.0.0.1:3000/callback",
    "http://127.0.0.1/callback",
    "http://127.1.2.3:8080/cb",
    "http://[::1]/cb",
    "http://[::1]:61023/cb",
    "http://localhost:3000/callback",
    "http://LOCALHOST/callback",
    "com.example.app:/cb",
    "com.example.app:/oauth2redirect/example-provider",
    "cursor://anysphere.cursor-retrieval/oauth/callback",
    "myapp://callback",
    "vscode://publisher.extension/auth",
  ];

  for (const uri of accepted) {
    it(`accepts ${uri}`, () => {
      expect(checkRedirectUriForRegistration(uri)).toBeUndefined();
    });
  }

  const rejected: Array<[string, string]> = [
    ["", "The redirect URI must be a non-empty string"],
    ["/cb", "The redirect URI must be an absolute URI"],
    ["cb", "The redirect URI must be an absolute URI"],
    ["//app.example.com/cb", "The redirect URI must be an absolute URI"],
    ["https://app.example.com/cb#f", "The redirect URI must not contain a fragment"],
    ["https://app.example.com/cb#", "The redirect URI must not contain a fragment"],
    ["com.example.app:/cb#x", "The redirect URI must not contain a fragment"],
    ["https://user@app.example.com/cb", "The redirect URI must not contain user information"],
    ["https://user:pass@app.example.com/cb", "The redirect URI must not contain user information"],
    ["http://127.0.0.1:33418@attacker.example/cb", "The redirect URI must not contain user information"],
    ["http://localhost@attacker.example/cb", "The redirect URI must not contain user information"],
    ["http://evil.example/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://127.0.0.1.evil.example/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://localhost.evil.example/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://127.1/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://2130706433/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://[0:0:0:0:0:0:0:1]/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["http://10.0.0.1/cb", "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost"],
    ["https:///cb", "The redirect URI must have the form https://host/path with a non-empty host and a valid port"],
    ["https:app.example.com/cb", "The redirect URI must have the form https://host/path with a non-empty host and a valid port"],
    ["http:/127.0.0.1/cb", "The redirect URI must have the form http://host/path with a non-empty host and a valid port"],
    ["https://app.example.com:/cb", "The redirect URI must have the form https://host/path with a non-empty host and a valid port"],
    ["https://app.example.com:99999/cb", "The redirect URI must be an absolute URI"],
    ["javascript:alert(1)", 'The redirect URI scheme "javascript:" is not allowed'],
    ["JavaScript://app.example.com/%0aalert(1)", 'The redirect URI scheme "javascript:" is not allowed'],
    ["data:text/html,x", 'The redirect URI scheme "data:" is not allowed'],
    ["file:///etc/passwd", 'The redirect URI scheme "file:" is not allowed'],
    ["vbscript:msgbox", 'The redirect URI scheme "vbscript:" is not allowed'],
    ["blob:https://app.example.com/uuid", 'The redirect URI scheme "blob:" is not allowed'],
    ["about:blank", 'The redirect URI scheme "about:" is not allowed'],
    ["ftp://files.example.com/cb", 'The redirect URI scheme "ftp:" is not allowed'],
    ["ws://127.0.0.1/cb", 'The redirect URI scheme "ws:" is not allowed'],
    ["wss://app.example.com/cb", 'The redirect URI scheme "wss:" is not allowed'],
    [
      "myapp:/cb",
      'The redirect URI scheme "myapp:" must be a reverse domain name such as "com.example.app:" or be followed by "//" and a host',
    ],
    [
      "myapp:///cb",
      'The redirect URI scheme "myapp:" must be a reverse domain name such as "com.example.app:" or be followed by "//" and a host',
    ],
    ["https://app.example.com/c b", "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)"],
    [" https://app.example.com/cb", "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)"],
    ["https://app.example.com/cb\n", "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)"],
    ["http://127.0.0.1\\@attacker.example/cb", "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)"],
    ["https://app.example.com/caf\u00e9", "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)"],
  ];

  for (const [uri, reason] of rejected) {
    it(`rejects ${JSON.stringify(uri)}`, () => {
      expect(checkRedirectUriForRegistration(uri)).toBe(reason);
    });
  }

  it("rejects non-string input", () => {
    expect(checkRedirectUriForRegistration(42 as unknown as string)).toBe("The redirect URI must be a non-empty string");
  });
});

describe("matchRedirectUri", () => {
  const registered = [
    "https://app.example.com/cb",
    "https://app.example.com/cb?tenant=1",
    "http://127.0.0.1:3000/callback",
    "http://[::1]/cb",
    "http://localhost:8080/callback",
    "com.example.app:/cb",
  ];

  const matching = [
    "https://app.example.com/cb",
    "https://app.example.com/cb?tenant=1",
    "http://127.0.0.1:3000/callback",
    "http://127.0.0.1:54321/callback",
    "http://127.0.0.1/callback",
    "http://[::1]/cb",
    "http://[::1]:61023/cb",
    "http://localhost:8080/callback",
    "http://localhost:1/callback",
    "http://localhost/callback",
    "com.example.app:/cb",
  ];

  for (const uri of matching) {
    it(`matches ${uri}`, () => {
      expect(matchRedirectUri(uri, registered)).toBe(uri);
    });
  }

  const mismatching = [
    "https://app.example.com/cb/",
    "https://app.example.com/CB",
    "https://APP.example.com/cb",
    "HTTPS://app.example.com/cb",
    "https://app.example.com:443/cb",
    "https://app.example.com/x/../cb",
    "https://app.example.com/%63b",
    "https://app.example.com/cb?tenant=2",
    "https://app.example.com/cb?tenant=1&x=2",
    "https://app.example.com/cb?",
    "https://app.example.com/cb#",
    "https://app.example.com/cb#frag",
    "https://app.example.com:8443/cb",
    "https://app.example.com.evil.example/cb",
    "https://user@app.example.com/cb",
    "http://app.example.com/cb",
    "http://127.0.0.1:54321/x/../callback",
    "http://127.0.0.1:54321/callback/",
    "http://127.0.0.1:54321/Callback",
    "http://127.0.0.1:54321/callback?x=1",
    "http://127.0.0.1:54321/callback#x",
    "http://127.0.0.1:33418@attacker.example/callback",
    "http://127.0.0.1:3000@attacker.example/callback",
    "http://127.0.0.1:3000\\@attacker.example/callback",
    "http://127.0.0.1:99999/callback",
    "http://127.0.0.1:/callback",
    "http://localhost:3000/callback/../callback",
    "http://127.0.0.2:3000/callback",
    "http://localhost:3000/cb",
    "http://LOCALHOST:8080/callback",
    "HTTP://127.0.0.1:3000/callback",
    "https://127.0.0.1:3000/callback",
    "http://[::1]:61023/cb/",
    "http://[0:0:0:0:0:0:0:1]/cb",
    "com.example.app:/cb/",
    "com.example.app://cb",
    "",
  ];

  for (const uri of mismatching) {
    it(`rejects ${JSON.stringify(uri)}`, () => {
      expect(matchRedirectUri(uri, registered)).toBeUndefined();
    });
  }

  it("allows port absent on either side", () => {
    expect(matchRedirectUri("http://127.0.0.1:3000/cb", ["http://127.0.0.1/cb"])).toBe("http://127.0.0.1:3000/cb");
    expect(matchRedirectUri("http://127.0.0.1/cb", ["http://127.0.0.1:3000/cb"])).toBe("http://127.0.0.1/cb");
  });

  it("keeps loopback hosts apart", () => {
    expect(matchRedirectUri("http://localhost:3000/cb", ["http://127.0.0.1:3000/cb"])).toBeUndefined();
    expect(matchRedirectUri("http://127.0.0.1:3000/cb", ["http://[::1]:3000/cb"])).toBeUndefined();
  });

  it("requires exact port elsewhere", () => {
    expect(matchRedirectUri("https://app.example.com:8443/cb", ["https://app.example.com/cb"])).toBeUndefined();
  });

  it("rejects with no registered URIs", () => {
    expect(matchRedirectUri("https://app.example.com/cb", [])).toBeUndefined();
  });

  it("rejects a fragment registered verbatim", () => {
    expect(matchRedirectUri("https://app.example.com/cb#x", ["https://app.example.com/cb#x"])).toBeUndefined();
  });

  it("rejects userinfo registered verbatim", () => {
    const uri = "https://user@app.example.com/cb";

    expect(matchRedirectUri(uri, [uri])).toBeUndefined();
  });

  it("rejects non-string input", () => {
    expect(matchRedirectUri(undefined as unknown as string, registered)).toBeUndefined();
  });
});

describe("isLoopbackRedirectUri", () => {
  const cases: Array<[string, boolean]> = [
    ["http://127.0.0.1/cb", true],
    ["http://127.0.0.1:3000/cb", true],
    ["http://127.255.255.254/cb", true],
    ["http://[::1]:8080/cb", true],
    ["http://localhost:8080/cb", true],
    ["http://127.0.0.1", true],
    ["https://127.0.0.1/cb", false],
    ["http://127.0.0.256/cb", false],
    ["http://127.00.0.1/cb", false],
    ["http://127.1/cb", false],
    ["http://128.0.0.1/cb", false],
    ["http://127.0.0.1.evil.example/cb", false],
    ["http://127.0.0.1@evil.example/cb", false],
    ["http://evil.example@127.0.0.1/cb", false],
    ["http://[::2]/cb", false],
    ["http://app.example.com/cb", false],
    ["com.example.app:/cb", false],
    ["/cb", false],
  ];

  for (const [uri, expected] of cases) {
    it(`classifies ${uri}`, () => {
      expect(isLoopbackRedirectUri(uri)).toBe(expected);
    });
  }
});
