import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import jsonwebtoken from "jsonwebtoken";

/** Options of {@link startFakeUpstream}. */
export interface FakeUpstreamOptions {
  clientId: string;
  clientSecret: string;
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Lifetime of issued access tokens in seconds; default 3600, so `bearer()` never refreshes during a run. */
  accessTokenTtlSeconds?: number;
}

/** A running fake upstream. */
export interface FakeUpstream {
  /** Base URL of every endpoint, `http://127.0.0.1:<port>`. */
  url: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  userinfoEndpoint: string;
  close(): Promise<void>;
}

interface IssuedCode {
  redirectUri: string;
  codeChallenge: string;
  subject: string;
}

/** Each map drops its oldest entries beyond this size, so a long run cannot grow the fake without bound. */
const MAX_ENTRIES = 200_000;
const MAX_BODY_BYTES = 16 * 1024;

/**
 * Starts an OAuth 2.0 provider that responds at once: no login page, no consent, no storage
 * beyond bounded in-memory maps. `/authorize` redirects straight back with a code for a new
 * user. `/token` serves the authorization_code grant, with PKCE S256 and an RS256-signed ID
 * token, and the refresh_token grant, which keeps the refresh token as RFC 6749 §6 allows.
 * `/userinfo` returns the user's claims.
 *
 * It exists so the benchmarks measure the proxy rather than an identity provider: the real
 * embedded provider (oidc-provider) renders pages and stores sessions on every sign-in.
 * Only redirect URIs on 127.0.0.1 are accepted.
 */
export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const state = new UpstreamState(url, options);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    state.handle(req, res).catch((error: unknown) => {
      send(res, 500, { error: "server_error", error_description: error instanceof Error ? error.message : String(error) });
    });
  });

  return {
    url,
    authorizationEndpoint: `${url}/authorize`,
    tokenEndpoint: `${url}/token`,
    userinfoEndpoint: `${url}/userinfo`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

class UpstreamState {
  readonly #issuer: string;
  readonly #options: FakeUpstreamOptions;
  readonly #expectedAuthorization: Buffer;
  readonly #signingKey: KeyObject;
  readonly #codes = new Map<string, IssuedCode>();
  readonly #accessTokens = new Map<string, string>();
  readonly #refreshTokens = new Map<string, string>();
  #users = 0;

  constructor(issuer: string, options: FakeUpstreamOptions) {
    this.#issuer = issuer;
    this.#options = options;
    // RFC 6749 §2.3.1: the id and secret are form-encoded before base64.
    const credentials = `${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`;
    this.#expectedAuthorization = Buffer.from(`Basic ${Buffer.from(credentials).toString("base64")}`);
    this.#signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.#issuer);
    if (req.method === "GET" && url.pathname === "/authorize") {
      this.#authorize(url, res);
      return;
    }
    if (req.method === "POST" && url.pathname === "/token") {
      this.#token(req, await readBody(req), res);
      return;
    }
    if (req.method === "GET" && url.pathname === "/userinfo") {
      this.#userinfo(req, res);
      return;
    }
    send(res, 404, { error: "not_found" });
  }

  #authorize(url: URL, res: ServerResponse): void {
    const params = url.searchParams;
    const redirectUri = params.get("redirect_uri") ?? "";
    const codeChallenge = params.get("code_challenge");
    if (params.get("client_id") !== this.#options.clientId || params.get("response_type") !== "code"
      || !redirectUri.startsWith("http://127.0.0.1:") || codeChallenge === null || params.get("code_challenge_method") !== "S256") {
      send(res, 400, { error: "invalid_request", error_description: "The fake upstream needs its client_id, response_type=code, a 127.0.0.1 redirect_uri and an S256 code_challenge" });
      return;
    }

    this.#users += 1;
    const code = randomBytes(32).toString("base64url");
    remember(this.#codes, code, { redirectUri, codeChallenge, subject: `user-${this.#users}` });

    const target = new URL(redirectUri);
    target.searchParams.set("code", code);
    const state = params.get("state");
    if (state !== null) {
      target.searchParams.set("state", state);
    }
    res.writeHead(302, { location: target.href });
    res.end();
  }

  #token(req: IncomingMessage, body: string, res: ServerResponse): void {
    const presented = Buffer.from(req.headers.authorization ?? "");
    if (presented.length !== this.#expectedAuthorization.length || !timingSafeEqual(presented, this.#expectedAuthorization)) {
      send(res, 401, { error: "invalid_client" });
      return;
    }

    const params = new URLSearchParams(body);
    const grantType = params.get("grant_type");
    if (grantType === "authorization_code") {
      this.#redeemCode(params, res);
      return;
    }
    if (grantType === "refresh_token") {
      this.#refresh(params, res);
      return;
    }
    send(res, 400, { error: "unsupported_grant_type" });
  }

  #redeemCode(params: URLSearchParams, res: ServerResponse): void {
    const code = params.get("code") ?? "";
    const issued = this.#codes.get(code);
    this.#codes.delete(code);
    const verifier = params.get("code_verifier") ?? "";
    if (issued === undefined || params.get("redirect_uri") !== issued.redirectUri
      || createHash("sha256").update(verifier).digest("base64url") !== issued.codeChallenge) {
      send(res, 400, { error: "invalid_grant" });
      return;
    }

    const refreshToken = randomBytes(32).toString("base64url");
    remember(this.#refreshTokens, refreshToken, issued.subject);
    send(res, 200, {
      ...this.#accessToken(issued.subject),
      refresh_token: refreshToken,
      id_token: this.#idToken(issued.subject),
    });
  }

  #refresh(params: URLSearchParams, res: ServerResponse): void {
    const subject = this.#refreshTokens.get(params.get("refresh_token") ?? "");
    if (subject === undefined) {
      send(res, 400, { error: "invalid_grant" });
      return;
    }
    send(res, 200, this.#accessToken(subject));
  }

  #accessToken(subject: string): Record<string, unknown> {
    const accessToken = randomBytes(32).toString("base64url");
    remember(this.#accessTokens, accessToken, subject);
    return {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: this.#options.accessTokenTtlSeconds ?? 3600,
      scope: "openid profile email offline_access",
    };
  }

  #idToken(subject: string): string {
    const now = Math.floor(Date.now() / 1000);
    return jsonwebtoken.sign({ ...claimsOf(subject), iss: this.#issuer, aud: this.#options.clientId, iat: now, exp: now + 3600, auth_time: now },
      this.#signingKey, { algorithm: "RS256", keyid: "fake-upstream-1" });
  }

  #userinfo(req: IncomingMessage, res: ServerResponse): void {
    const header = req.headers.authorization ?? "";
    const subject = header.startsWith("Bearer ") ? this.#accessTokens.get(header.slice(7)) : undefined;
    if (subject === undefined) {
      res.setHeader("www-authenticate", 'Bearer error="invalid_token"');
      send(res, 401, { error: "invalid_token" });
      return;
    }
    send(res, 200, claimsOf(subject));
  }
}

function claimsOf(subject: string): Record<string, unknown> {
  return { sub: subject, name: `Bench ${subject}`, email: `${subject}@example.com`, email_verified: true };
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next();
    if (oldest.done !== true) {
      map.delete(oldest.value);
    }
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`The request body is over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const json = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json), "cache-control": "no-store" });
  res.end(json);
}
