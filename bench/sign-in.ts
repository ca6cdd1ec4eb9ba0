import { createHash, randomBytes } from "node:crypto";
import { parseForm, TestBrowser } from "../examples/demo/browser.js";
import { BENCH_SCOPE } from "./proxy-app.js";

/** Redirect URI of the benchmark client. Nothing listens there, because the browser stops before requesting it. */
export const REDIRECT_URI = "http://127.0.0.1:9/callback";

/** A PKCE pair (RFC 7636) that a whole benchmark run reuses; each code still needs its own flow. */
export interface PkcePair {
  verifier: string;
  challenge: string;
}

/** Tokens from a token endpoint response. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** Creates a random PKCE S256 pair. */
export function createPkce(): PkcePair {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** Registers a public client with dynamic client registration and returns its client_id. */
export async function registerClient(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "Benchmark client",
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
    }),
  });
  if (response.status !== 201) {
    throw new Error(`Registration at ${baseUrl} responded with ${response.status}: ${await response.text()}`);
  }
  return (await response.json() as { client_id: string }).client_id;
}

/**
 * Runs the browser part of one sign-in over HTTP: the authorization request, approval on the
 * consent page, the fake upstream's instant redirect and the proxy's callback. Returns the
 * proxy's authorization code.
 */
export async function obtainCode(baseUrl: string, clientId: string, pkce: PkcePair): Promise<string> {
  const browser = new TestBrowser();
  const authorizeUrl = new URL(`${baseUrl}/oauth/authorize`);
  authorizeUrl.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
    state: randomBytes(8).toString("base64url"),
    scope: BENCH_SCOPE,
    resource: `${baseUrl}/mcp`,
  }).toString();

  const consent = await browser.get(authorizeUrl);
  if (consent.status !== 200) {
    throw new Error(`The consent page responded with ${consent.status}: ${consent.body.slice(0, 200)}`);
  }
  const form = parseForm(consent.body, { buttonValue: "approve" });
  const action = new URL(form.action, authorizeUrl);
  const approved = await browser.postForm(action, form.fields, { origin: action.origin });
  if (approved.location === undefined) {
    throw new Error(`Approval responded with ${approved.status} without a redirect: ${approved.body.slice(0, 200)}`);
  }

  const landed = await browser.follow(approved.location, { until: (url) => url.href.startsWith(REDIRECT_URI) });
  const code = landed.stopped ? landed.url.searchParams.get("code") : null;
  if (code === null) {
    throw new Error(`The sign-in ended at ${landed.url.href} with status ${landed.status} instead of a code: ${landed.body.slice(0, 200)}`);
  }
  return code;
}

/** Redeems a code at the token endpoint. */
export async function redeemCode(baseUrl: string, clientId: string, code: string, pkce: PkcePair): Promise<TokenPair> {
  const response = await fetch(`${baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: codeRequestBody(clientId, code, pkce),
  });
  const body = await response.json() as { access_token?: string; refresh_token?: string };
  if (response.status !== 200 || body.access_token === undefined || body.refresh_token === undefined) {
    throw new Error(`The token endpoint responded with ${response.status}: ${JSON.stringify(body)}`);
  }
  return { accessToken: body.access_token, refreshToken: body.refresh_token };
}

/** Builds the form body of an authorization_code token request. */
export function codeRequestBody(clientId: string, code: string, pkce: PkcePair): string {
  return new URLSearchParams({
    grant_type: "authorization_code",
    code,
    code_verifier: pkce.verifier,
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
  }).toString();
}

/** Builds the form body of a refresh_token token request. */
export function refreshRequestBody(clientId: string, refreshToken: string): string {
  return new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId }).toString();
}

/** Registers a client and signs in once: the shortest way to a working token pair. */
export async function signIn(baseUrl: string): Promise<TokenPair & { clientId: string }> {
  const clientId = await registerClient(baseUrl);
  const pkce = createPkce();
  const code = await obtainCode(baseUrl, clientId, pkce);
  return { clientId, ...await redeemCode(baseUrl, clientId, code, pkce) };
}

/**
 * Obtains `count` codes for one client, running `concurrency` sign-ins at a time.
 */
export async function obtainCodes(baseUrl: string, clientId: string, pkce: PkcePair, count: number, concurrency: number): Promise<string[]> {
  const codes: string[] = [];
  let running = 0;
  const worker = async (): Promise<void> => {
    while (codes.length + running < count) {
      running += 1;
      try {
        codes.push(await obtainCode(baseUrl, clientId, pkce));
      } finally {
        running -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return codes;
}
