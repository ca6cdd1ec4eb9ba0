import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

import jsonwebtoken from "jsonwebtoken";

/** A request a fake received, with its query and form body parsed. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as a form; empty for other content types. */
  form: URLSearchParams;
}

/** Handles one request; `url` is the fake's own base URL. */
export type FakeHandler = (request: RecordedRequest, res: ServerResponse, url: string) => void | Promise<void>;

/** An HTTP server on 127.0.0.1 that records every request and hands it to a handler. */
export class FakeServer {
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;

  private constructor(server: Server, url: string) {
    this.server = server;
    this.url = url;
  }

  static async start(handle: FakeHandler): Promise<FakeServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const fake = new FakeServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    server.on("request", (req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", fake.url);
        const isForm = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
        const request: RecordedRequest = {
          method: req.method ?? "GET",
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body,
          form: new URLSearchParams(isForm ? body : ""),
        };
        fake.requests.push(request);
        Promise.resolve(handle(request, res, fake.url)).catch((error: unknown) => {
          if (!res.headersSent) {
            sendJson(res, 500, { error: "fake_failed", error_description: String(error) });
          }
        });
      });
    });
    return fake;
  }

  /** Requests received at `path`, in arrival order. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) {
    return;
  }
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

export function sendForm(res: ServerResponse, status: number, body: Record<string, string | number>): void {
  const fields = Object.fromEntries(Object.entries(body).map(([name, value]) => [name, String(value)]));
  res.writeHead(status, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" });
  res.end(new URLSearchParams(fields).toString());
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><head><title>Fake provider</title></head><body>${html}</body></html>`);
}

export function redirectTo(res: ServerResponse, location: URL | string): void {
  res.writeHead(302, { location: String(location) });
  res.end();
}

/** Adds `params` to a redirect URI's query, as an authorization response does. */
export function withParams(redirectUri: string, params: Record<string, string | undefined>): URL {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) {
      url.searchParams.set(name, value);
    }
  }
  return url;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Renders a sign-in page whose form posts the pending request id and a login name to `action`. */
export function signInPage(title: string, action: string, requestId: string, defaultLogin: string): string {
  return `<h1>${escapeHtml(title)}</h1>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="request" value="${escapeHtml(requestId)}">
<input type="hidden" name="login" value="${escapeHtml(defaultLogin)}">
<button type="submit" name="decision" value="allow">Sign in</button>
</form>`;
}

/** Returns the id and secret of an HTTP Basic Authorization header (RFC 6749 §2.3.1 form-decoding). */
export function basicCredentials(headers: IncomingHttpHeaders): { id: string; secret: string } | undefined {
  const header = headers.authorization;
  if (header === undefined || !header.startsWith("Basic ")) {
    return undefined;
  }
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const separator = decoded.indexOf(":");
  if (separator < 0) {
    return undefined;
  }
  const decode = (value: string) => decodeURIComponent(value.replace(/\+/g, " "));
  return { id: decode(decoded.slice(0, separator)), secret: decode(decoded.slice(separator + 1)) };
}

/** Returns the bearer token of a request, also accepting GitHub's older `token` scheme. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  return /^(?:Bearer|token) (.+)$/i.exec(headers.authorization ?? "")?.[1];
}

export function verifyPkce(verifier: string | null, challenge: string | undefined): boolean {
  if (challenge === undefined) {
    return true;
  }
  return verifier !== null && createHash("sha256").update(verifier).digest("base64url") === challenge;
}

export function randomId(prefix = ""): string {
  return `${prefix}${randomBytes(18).toString("base64url")}`;
}

/** A fault the next token request gets; see `ProviderContractFixture.failNextTokenRequest`. */
export type TokenFault = "outage" | "slow";

/** Faults queued for a fake's token endpoint. */
export class TokenFaults {
  private readonly queue: TokenFault[] = [];

  add(fault: TokenFault): void {
    this.queue.push(fault);
  }

  /** Responds with the next queued fault and returns true, or returns false when none is queued. */
  async apply(res: ServerResponse, outageBody: unknown): Promise<boolean> {
    const fault = this.queue.shift();
    if (fault === undefined) {
      return false;
    }
    if (fault === "slow") {
      await sleep(1500);
    }
    sendJson(res, 503, outageBody);
    return true;
  }
}

/** An RSA signing key with its public JWKS, for ID tokens. */
export class SigningKey {
  readonly kid = randomId("key-");
  private readonly pair = generateKeyPairSync("rsa", { modulusLength: 2048 });

  jwks(): { keys: JsonWebKey[] } {
    return { keys: [{ ...this.pair.publicKey.export({ format: "jwk" }), kid: this.kid, use: "sig", alg: "RS256" }] };
  }

  sign(claims: Record<string, unknown>, lifetimeSeconds = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    return jsonwebtoken.sign({ iat: now, exp: now + lifetimeSeconds, ...claims }, this.pair.privateKey, { algorithm: "RS256", keyid: this.kid });
  }
}
