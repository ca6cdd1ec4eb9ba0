import createDebug from "debug";
import { UpstreamError } from "../errors.js";
import type { UpstreamFailure } from "../errors.js";
import type { UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Default time limit for one upstream request, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

// An upstream response body larger than this is refused rather than buffered; token,
// userinfo, discovery and JWKS documents are a few kilobytes.
const MAX_BODY_BYTES = 1024 * 1024;

/** Options for one upstream request. */
export interface RequestOptions {
  headers?: Record<string, string>;
  /** Time limit for the whole exchange, body included, in milliseconds; defaults to 10 000. */
  timeoutMs?: number;
}

/**
 * Posts `params` form-encoded to an endpoint that returns an OAuth 2.0
 * response (token, revocation) and returns the parsed body.
 *
 * A 401 or an `invalid_client`/`unauthorized_client` error becomes "invalid_client",
 * because at these endpoints it means the proxy's client credentials were rejected
 * (RFC 6749 §5.2).
 */
export async function postForm(
  url: URL | string,
  params: Record<string, string> | URLSearchParams,
  options: RequestOptions = {},
): Promise<Record<string, unknown>> {
  const response = await send(new URL(url), {
    method: "POST",
    headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded", ...options.headers },
    body: new URLSearchParams(params).toString(),
  }, options.timeoutMs);
  return readOAuthResponse(response, "form");
}

/** Options for `requestJson`. */
export interface JsonRequestOptions extends RequestOptions {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Sent as a JSON body when set. */
  json?: unknown;
}

/**
 * Sends a request to a JSON API (such as GitHub's REST API) and returns the
 * response object, or `{}` for an empty success response such as 204.
 * Failures map as in `getJson`.
 */
export async function requestJson(url: URL | string, options: JsonRequestOptions): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
  }
  const response = await send(new URL(url), {
    method: options.method,
    headers,
    ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
  }, options.timeoutMs);
  return readOAuthResponse(response, "json");
}

/**
 * Fetches a JSON document (discovery, JWKS, userinfo) and returns its object.
 *
 * A 401 or 403 becomes "protocol", because here it means the provider rejected
 * the access token (RFC 6750 §3.1), not the proxy's client credentials.
 */
export async function getJson(url: URL | string, options: RequestOptions = {}): Promise<Record<string, unknown>> {
  const response = await send(new URL(url), {
    method: "GET",
    headers: { accept: "application/json", ...options.headers },
  }, options.timeoutMs);
  return readOAuthResponse(response, "json");
}

/** Fetches a JSON array (such as GitHub's list of email addresses); failures map as in `getJson`. */
export async function getJsonArray(url: URL | string, options: RequestOptions = {}): Promise<unknown[]> {
  const response = await send(new URL(url), {
    method: "GET",
    headers: { accept: "application/json", ...options.headers },
  }, options.timeoutMs);
  if (response.status >= 300) {
    readOAuthResponse(response, "json");
  }

  const parsed = parseJson(response.text);
  if (!Array.isArray(parsed)) {
    throw new UpstreamError("protocol", `${describeEndpoint(response.url)} returned a body that is not a JSON array`, { status: response.status });
  }
  return parsed;
}

interface UpstreamResponse {
  url: URL;
  status: number;
  contentType: string;
  text: string;
  bearerError: string | undefined;
}

async function send(url: URL, init: RequestInit, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<UpstreamResponse> {
  const endpoint = describeEndpoint(url);
  const started = Date.now();

  try {
    // Redirects are not followed: a token request carries client credentials and a
    // userinfo request a bearer token, and neither may be replayed to another URL.
    const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const text = await readLimited(response, endpoint);
    debug("response method=%s url=%s status=%d ms=%d", init.method, endpoint, response.status, Date.now() - started);
    return {
      url,
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      text,
      bearerError: bearerErrorCode(response.headers.get("www-authenticate")),
    };
  } catch (error) {
    if (error instanceof UpstreamError) {
      throw error;
    }

    const timedOut = error instanceof Error && error.name === "TimeoutError";
    debug("failed method=%s url=%s reason=%s ms=%d", init.method, endpoint, timedOut ? "timeout" : networkReason(error), Date.now() - started);
    const message = timedOut
      ? `The request to ${endpoint} timed out after ${timeoutMs} ms`
      : `The request to ${endpoint} failed: ${networkReason(error)}`;
    throw new UpstreamError("unavailable", message, { cause: error });
  }
}

async function readLimited(response: Response, endpoint: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    await response.body?.cancel();
    throw new UpstreamError("protocol", `The response from ${endpoint} is larger than ${MAX_BODY_BYTES} bytes`);
  }

  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) {
      throw new UpstreamError("protocol", `The response from ${endpoint} is larger than ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function readOAuthResponse(response: UpstreamResponse, kind: "form" | "json"): Record<string, unknown> {
  const endpoint = describeEndpoint(response.url);
  const { status } = response;

  if (status >= 500 || status === 429) {
    throw new UpstreamError("unavailable", `${endpoint} returned HTTP ${status}`, { status });
  }
  if (status >= 300 && status < 400) {
    throw new UpstreamError("protocol", `${endpoint} returned a redirect (HTTP ${status}); configure the URL it redirects to`, { status });
  }

  // RFC 7009 §2.2: a revocation endpoint responds with 200 and an empty body.
  if (status < 300 && response.text.trim() === "") {
    return {};
  }

  const body = parseBody(response, kind);
  // Some providers (GitHub among them) report token errors with HTTP 200, so the
  // `error` member is checked whatever the status.
  const errorCode = typeof body?.error === "string" ? body.error : undefined;
  if (errorCode !== undefined || status >= 400) {
    throw errorFor(kind, endpoint, status, errorCode ?? response.bearerError);
  }
  if (body === undefined) {
    throw new UpstreamError("protocol", `${endpoint} returned a body that is neither a JSON object nor form-encoded`, { status });
  }
  return body;
}

function errorFor(kind: "form" | "json", endpoint: string, status: number, errorCode: string | undefined): UpstreamError {
  const failure = failureFor(kind, status, errorCode);
  const reason = errorCode === undefined ? `HTTP ${status}` : `error ${errorCode} (HTTP ${status})`;
  debug("rejected url=%s status=%d error=%s failure=%s", endpoint, status, errorCode ?? "-", failure);
  return new UpstreamError(failure, `${endpoint} rejected the request with ${reason}`, { status, upstreamError: errorCode });
}

function failureFor(kind: "form" | "json", status: number, errorCode: string | undefined): UpstreamFailure {
  if (errorCode === "invalid_grant") {
    return "invalid_grant";
  }
  // RFC 6749 §4.1.2.1 defines these for the authorization endpoint, but some providers
  // (Microsoft Entra among them) send them from the token endpoint with HTTP 400.
  if (errorCode === "temporarily_unavailable" || errorCode === "server_error") {
    return "unavailable";
  }
  if (kind === "form" && (errorCode === "invalid_client" || errorCode === "unauthorized_client" || status === 401)) {
    return "invalid_client";
  }
  return "protocol";
}

function parseBody(response: UpstreamResponse, kind: "form" | "json"): Record<string, unknown> | undefined {
  const type = response.contentType.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") {
    return parseForm(response.text);
  }

  const parsed = parseJson(response.text);
  if (parsed !== undefined) {
    return isObject(parsed) ? parsed : undefined;
  }
  // GitHub's token endpoint responds form-encoded unless the request accepts JSON, so a body that
  // is neither JSON nor labeled as a form is still read as one when it looks like a token response.
  return kind === "form" && type !== "text/html" ? parseTokenForm(response.text) : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseForm(text: string): Record<string, unknown> | undefined {
  const form = Object.fromEntries(new URLSearchParams(text));
  return Object.keys(form).length > 0 ? form : undefined;
}

// An unlabeled body counts as a form only when it carries the members a token response must have.
function parseTokenForm(text: string): Record<string, unknown> | undefined {
  if (!/^[\w.~%+-]+=[^\s]*$/.test(text.trim())) {
    return undefined;
  }
  const form = parseForm(text.trim());
  return form !== undefined && ("access_token" in form || "error" in form) ? form : undefined;
}

// RFC 6750 §3: a resource server reports the failure in WWW-Authenticate, e.g.
// `Bearer error="invalid_token"`.
function bearerErrorCode(header: string | null): string | undefined {
  return header === null ? undefined : /\berror="([^"]*)"/.exec(header)?.[1];
}

function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const code = isObject(cause) && typeof cause.code === "string" ? cause.code : undefined;
  return code ?? (error instanceof Error ? error.message : String(error));
}

// Logs and messages name the endpoint without its query, which may carry a token on misconfigured providers.
function describeEndpoint(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Tells whether `value` is a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Normalizes an RFC 6749 §5.1 token response to `UpstreamTokens`.
 *
 * `requestedScopes` replaces a missing `scope`, because RFC 6749 §5.1 then means
 * "the scope requested". `scope` is split on spaces and commas, because GitHub
 * separates granted scopes with commas.
 */
export function normalizeTokenResponse(body: Record<string, unknown>, requestedScopes: string[], now = Date.now()): UpstreamTokens {
  const accessToken = body.access_token;
  if (typeof accessToken !== "string" || accessToken === "") {
    throw new UpstreamError("protocol", "The token response has no access_token");
  }

  const tokens: UpstreamTokens = {
    accessToken,
    tokenType: typeof body.token_type === "string" && body.token_type !== "" ? body.token_type : "Bearer",
    scopes: typeof body.scope === "string" ? splitScopes(body.scope) : [...requestedScopes],
  };
  if (typeof body.refresh_token === "string" && body.refresh_token !== "") {
    tokens.refreshToken = body.refresh_token;
  }
  if (typeof body.id_token === "string" && body.id_token !== "") {
    tokens.idToken = body.id_token;
  }

  // Form-encoded responses carry expires_in as a string.
  const expiresIn = typeof body.expires_in === "string" ? Number(body.expires_in) : body.expires_in;
  if (typeof expiresIn === "number" && Number.isFinite(expiresIn) && expiresIn >= 0) {
    tokens.expiresAt = Math.floor(now / 1000) + Math.floor(expiresIn);
  } else if (body.expires_in !== undefined) {
    debug("ignored expires_in reason=not-a-number");
  }
  return tokens;
}

function splitScopes(scope: string): string[] {
  return scope.split(/[\s,]+/).filter((value) => value !== "");
}
