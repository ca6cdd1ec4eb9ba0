import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseForm, TestBrowser } from "../examples/demo/browser.js";
import { CHALLENGE, Harness, REDIRECT_URI } from "./helpers/harness.js";
import type { RegisteredClient } from "./helpers/harness.js";

/**
 * Malformed requests against every endpoint, sent over raw TCP so that nothing
 * on the client side repairs them. Every response must have a status below 500,
 * carry no stack trace, and be the outcome listed for its case.
 */

/** A request built from its parts and written to the socket. */
interface BuiltRequest {
  method?: string;
  /** The request-target exactly as sent. */
  target: string;
  /** Header lines in order, with repeated names sent as repeated lines. */
  headers?: Array<[string, string]>;
  body?: string | Buffer;
  /** Leaves out the Host header that is otherwise added. */
  noHost?: boolean;
}

/** A request: built from parts, or bytes sent exactly as they are. */
type RawRequest = BuiltRequest | { raw: Buffer };

/** A response as read from the socket. */
interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
  /**
   * True for a response with neither body nor content type, which is how Node's
   * HTTP server refuses a request before the app sees it (parse errors, a
   * missing Host, an unknown Expect). The proxy's own errors always have a body.
   */
  refusedByNode: boolean;
}

/**
 * The outcomes a case may have:
 * - `4xx`: a client error with an OAuth JSON body, an HTML page, or a refusal by Node's HTTP server;
 * - `2xx`: accepted, because the input is valid or harmless;
 * - `redirect-error`: a redirect to the registered redirect URI carrying `error`;
 * - `redirect-upstream`: the consent approval redirecting to the upstream provider.
 */
type Outcome = "4xx" | "2xx" | "redirect-error" | "redirect-upstream";

interface FuzzCase {
  endpoint: string;
  name: string;
  outcomes: Outcome[];
  build: (context: FuzzContext) => RawRequest | Promise<RawRequest>;
  /** A further check on the response. */
  check?: (response: RawResponse, context: FuzzContext) => void;
  /** The error body comes from the host app's own handlers behind bearer(), not from the proxy. */
  bodyFromHostApp?: boolean;
}

interface FuzzContext {
  port: number;
  issuer: string;
  upstreamIssuer: string;
  paths: Record<"asMetadata" | "prm" | "prmRoot" | "register" | "authorize" | "consent" | "callback" | "token" | "revoke" | "introspect" | "jwks" | "mcp", string>;
  publicClient: RegisteredClient;
  confidentialClient: RegisteredClient;
  accessToken: string;
  refreshToken: string;
  /** The query of a valid authorization request for the public client, without the leading `?`. */
  authorizeQuery(overrides?: Record<string, string | undefined>): string;
  /** A fresh transaction: the session cookie and the consent form fields. */
  consent(): Promise<{ cookie: string; fields: Record<string, string> }>;
  /** An approved flow waiting for the upstream callback: the session cookie and the upstream state. */
  flow(): Promise<{ cookie: string; state: string }>;
}

const RESPONSE_TIMEOUT_MS = 10_000;
const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

/** Sends one request on a new connection and reads the response until the server closes it. */
function send(port: number, request: RawRequest): Promise<RawResponse> {
  const bytes = "raw" in request ? request.raw : serialize(port, request);
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No complete response within ${RESPONSE_TIMEOUT_MS} ms`));
    }, RESPONSE_TIMEOUT_MS);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // Some handlers keep the connection open after responding, so a complete response ends the read.
      if (isComplete(Buffer.concat(chunks))) {
        socket.destroy();
      }
    });
    const finish = (error: Error): void => {
      clearTimeout(timer);
      if (chunks.length === 0) {
        reject(error);
        return;
      }
      resolve(parseResponse(Buffer.concat(chunks)));
    };
    // A server that answered and closed while the body was still being written resets the connection.
    socket.on("error", finish);
    socket.on("close", () => finish(new Error("The connection closed without a response")));
    // No half-close after writing, because Node drops a response whose client ended its side before the response was ready.
    // Every request sends Connection: close, so the server closes once it has responded.
    socket.write(bytes);
  });
}

/** Returns whether `data` contains a whole final response, judged by Content-Length or the last chunk. */
function isComplete(data: Buffer): boolean {
  const end = data.indexOf("\r\n\r\n");
  if (end === -1) {
    return false;
  }
  const head = data.subarray(0, end).toString("latin1");
  if (/^HTTP\/1\.[01] 1\d\d/.test(head)) {
    return isComplete(data.subarray(end + 4));
  }
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
  if (length !== undefined) {
    return data.length - end - 4 >= Number(length);
  }
  return /\r\ntransfer-encoding: *chunked/i.test(head) && data.subarray(end + 4).includes("\r\n0\r\n\r\n");
}

function serialize(port: number, request: BuiltRequest): Buffer {
  const body = typeof request.body === "string" ? Buffer.from(request.body, "utf8") : request.body;
  const headers = request.headers ?? [];
  const names = new Set(headers.map(([name]) => name.toLowerCase()));
  const lines = [`${request.method ?? "GET"} ${request.target} HTTP/1.1`];
  if (request.noHost !== true) {
    lines.push(`Host: 127.0.0.1:${port}`);
  }
  lines.push("Connection: close");
  lines.push(...headers.map(([name, value]) => `${name}: ${value}`));
  if (body !== undefined && !names.has("content-length") && !names.has("transfer-encoding")) {
    lines.push(`Content-Length: ${body.length}`);
  }
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body ?? Buffer.alloc(0)]);
}

function parseResponse(data: Buffer): RawResponse {
  let rest = data;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    const head = (end === -1 ? rest : rest.subarray(0, end)).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "")?.[1] ?? "0");
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${line.slice(colon + 1).trim()}` : line.slice(colon + 1).trim());
    }
    const payload = end === -1 ? Buffer.alloc(0) : rest.subarray(end + 4);
    // An interim 100 Continue precedes the real response.
    if (status >= 100 && status < 200) {
      rest = payload;
      continue;
    }
    const body = headers.get("transfer-encoding")?.includes("chunked") ? dechunk(payload) : payload;
    return { status, headers, body: body.toString("utf8"), refusedByNode: body.length === 0 && !headers.has("content-type") };
  }
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const lineEnd = data.indexOf("\r\n", offset);
    const size = parseInt(data.subarray(offset, lineEnd).toString("latin1"), 16);
    if (!Number.isFinite(size) || size === 0) {
      break;
    }
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Returns what is wrong with an error body, or `undefined` when it is an OAuth error, a JSON-RPC error or a readable page. */
function errorBodyProblem(response: RawResponse, method: string): string | undefined {
  if (response.refusedByNode || (method === "HEAD" && response.body === "")) {
    return undefined;
  }

  const type = response.headers.get("content-type") ?? "";
  if (type.startsWith("application/json")) {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(response.body) as Record<string, unknown>;
    } catch {
      return `invalid JSON: ${response.body.slice(0, 100)}`;
    }
    const rfcText = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
    if (typeof body.error === "string" && rfcText.test(body.error)) {
      return body.error_description === undefined || (typeof body.error_description === "string" && rfcText.test(body.error_description))
        ? undefined
        : `error_description outside the RFC 6749 character set: ${JSON.stringify(body.error_description)}`;
    }
    return body.jsonrpc === "2.0" && typeof body.error === "object" ? undefined : `JSON without an error code: ${response.body.slice(0, 100)}`;
  }
  if (type.startsWith("text/html")) {
    return /<h1>|<pre>Cannot /.test(response.body) ? undefined : `HTML without a heading: ${response.body.slice(0, 100)}`;
  }
  return `unexpected content type ${JSON.stringify(type)} with body ${JSON.stringify(response.body.slice(0, 100))}`;
}

function stackTraceProblem(response: RawResponse): string | undefined {
  const leaks = [/\n\s+at [^\n]+:\d+:\d+/, /node_modules/, new RegExp(process.cwd().replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))];
  const leak = leaks.find((pattern) => pattern.test(response.body));
  return leak === undefined ? undefined : `body leaks internals (${leak}): ${response.body.slice(0, 200)}`;
}

/** Returns what is wrong with the response for the allowed outcomes, or `undefined`. */
function outcomeProblem(response: RawResponse, outcomes: Outcome[], method: string, context: FuzzContext): string | undefined {
  if (response.status >= 500 || response.status < 100) {
    return `status ${response.status}`;
  }

  const location = response.headers.get("location");
  if (response.status >= 400 && response.status < 500 && outcomes.includes("4xx")) {
    return errorBodyProblem(response, method);
  }
  if (response.status >= 200 && response.status < 300 && outcomes.includes("2xx")) {
    return undefined;
  }
  if ((response.status === 302 || response.status === 303) && location !== undefined) {
    if (outcomes.includes("redirect-error") && location.startsWith(`${REDIRECT_URI}?`) && new URL(location).searchParams.has("error")) {
      return undefined;
    }
    if (outcomes.includes("redirect-upstream") && location.startsWith(`${context.upstreamIssuer}/`)) {
      return undefined;
    }
  }
  return `status ${response.status} (location ${location ?? "none"}) is not one of ${outcomes.join(", ")}: ${response.body.slice(0, 150)}`;
}

// ---------------------------------------------------------------------------
// The case table
// ---------------------------------------------------------------------------

const cases: FuzzCase[] = [];

function add(endpoint: string, name: string, outcomes: Outcome[], build: FuzzCase["build"], check?: FuzzCase["check"], bodyFromHostApp = false): FuzzCase {
  const fuzzCase: FuzzCase = { endpoint, name, outcomes, build, bodyFromHostApp, ...(check === undefined ? {} : { check }) };
  cases.push(fuzzCase);
  return fuzzCase;
}

function formRequest(path: string, body: string | Buffer, headers: Array<[string, string]> = [["Content-Type", FORM]]): BuiltRequest {
  return { method: "POST", target: path, headers, body };
}

/** Query strings that are malformed, oversized or hostile, each sent as written. */
const QUERIES: Array<[string, string]> = [
  ["no query", ""],
  ["an empty query", "?"],
  ["only separators", "?&&&"],
  ["an empty name", "?=x"],
  ["a name without value", "?client_id"],
  ["a bad percent-encoding in a name", "?%zz=1"],
  ["a bad percent-encoding in a value", "?client_id=%zz&state=%G0"],
  ["a truncated percent-encoding", "?client_id=%&state=%4"],
  ["a truncated multibyte sequence", "?client_id=%E0%A4"],
  ["a NUL byte", "?client_id=%00&state=%00"],
  ["an overlong UTF-8 slash", "?client_id=%C0%AF"],
  ["a lone surrogate", "?client_id=%ED%A0%80"],
  ["a right-to-left override", "?client_id=%E2%80%AEevil"],
  ["an emoji", "?state=%F0%9F%98%80&client_id=%F0%9F%98%80"],
  ["bracket array syntax", "?client_id[]=a&state[]=b"],
  ["bracket object syntax", "?client_id[a]=b"],
  ["prototype pollution names", "?__proto__[x]=1&constructor[prototype][y]=2"],
  ["a repeated client_id", "?client_id=a&client_id=b"],
  ["a 5,000-character state", `?state=${"s".repeat(5000)}`],
  ["1,000 parameters", `?${Array.from({ length: 1000 }, (_, index) => `p${index}=1`).join("&")}`],
  ["CRLF in a value", "?state=%0D%0ALocation:%20https://evil.example"],
  ["HTML in a value", "?client_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E"],
  ["a javascript: redirect_uri", "?redirect_uri=javascript:alert(1)"],
  ["plus signs", "?client_id=+++&scope=+"],
  ["semicolon separators", "?client_id=a;redirect_uri=b"],
  ["a fragment in the target", "?client_id=a#fragment"],
  ["a path parameter", ";jsessionid=1?client_id=a"],
  ["an encoded question mark", "%3Fclient_id=a"],
  ["a trailing slash", "/?client_id=a"],
  ["a doubled slash", "//?client_id=a"],
];

/** Returns whether a query mutation changes the path instead of the query. */
function changesPath(query: string): boolean {
  return query.startsWith(";") || query.startsWith("%3F") || query.startsWith("//");
}

for (const [name, query] of QUERIES) {
  add("authorize", name, ["4xx"], (context) => ({ target: context.paths.authorize + query }));
  add("callback", name, ["4xx"], (context) => ({ target: context.paths.callback + query }));
  add("authorization server metadata", name, changesPath(query) ? ["4xx"] : ["2xx"], (context) => ({ target: context.paths.asMetadata + query }));
  add("jwks", name, ["2xx", "4xx"], (context) => ({ target: context.paths.jwks + query }));
}

/** Mutations of a valid authorization request. The client and redirect URI stay valid unless the case name states otherwise. */
const AUTHORIZE_MUTATIONS: Array<[string, Outcome[], (context: FuzzContext) => string]> = [
  ["a repeated code_challenge", ["redirect-error"], (context) => `${context.authorizeQuery()}&code_challenge=${"B".repeat(43)}`],
  ["a repeated state", ["redirect-error"], (context) => `${context.authorizeQuery()}&state=other`],
  ["a repeated scope", ["redirect-error"], (context) => `${context.authorizeQuery()}&scope=mcp%3Aread`],
  ["response_type=token", ["redirect-error"], (context) => context.authorizeQuery({ response_type: "token" })],
  ["response_type with a NUL byte", ["redirect-error"], (context) => context.authorizeQuery({ response_type: "code\u0000" })],
  ["code_challenge_method=plain", ["redirect-error"], (context) => context.authorizeQuery({ code_challenge_method: "plain" })],
  ["code_challenge_method=S512", ["redirect-error"], (context) => context.authorizeQuery({ code_challenge_method: "S512" })],
  ["a 129-character code_challenge", ["redirect-error"], (context) => context.authorizeQuery({ code_challenge: "a".repeat(129) })],
  ["a code_challenge with padding", ["redirect-error"], (context) => context.authorizeQuery({ code_challenge: `${CHALLENGE.slice(0, 42)}=` })],
  ["a scope with a control character", ["redirect-error"], (context) => context.authorizeQuery({ scope: "mcp:read\u0001" })],
  ["an unknown scope", ["redirect-error"], (context) => context.authorizeQuery({ scope: "mcp:admin" })],
  ["a foreign resource", ["redirect-error"], (context) => context.authorizeQuery({ resource: "https://evil.example/mcp" })],
  ["a resource that is not a URL", ["redirect-error"], (context) => context.authorizeQuery({ resource: "%zz" })],
  ["a resource with a fragment", ["redirect-error"], (context) => context.authorizeQuery({ resource: `http://127.0.0.1:${context.port}/mcp#x` })],
  ["a 5,000-character state", ["2xx"], (context) => context.authorizeQuery({ state: "s".repeat(5000) })],
  ["a state with CRLF", ["2xx"], (context) => context.authorizeQuery({ state: "a\r\nLocation: https://evil.example" })],
  ["another loopback port", ["2xx"], (context) => context.authorizeQuery({ redirect_uri: "http://127.0.0.1:4000/callback" })],
  ["a redirect_uri with an extra path", ["4xx"], (context) => context.authorizeQuery({ redirect_uri: `${REDIRECT_URI}/extra` })],
  ["a redirect_uri with userinfo", ["4xx"], (context) => context.authorizeQuery({ redirect_uri: "http://127.0.0.1:3000@evil.example/callback" })],
  ["a redirect_uri with a query", ["4xx"], (context) => context.authorizeQuery({ redirect_uri: `${REDIRECT_URI}?next=https://evil.example` })],
  ["a redirect_uri with a NUL byte", ["4xx"], (context) => context.authorizeQuery({ redirect_uri: `${REDIRECT_URI}\u0000` })],
  ["a client_id with a trailing space", ["4xx"], (context) => context.authorizeQuery({ client_id: `${context.publicClient.client_id} ` })],
  ["an unknown parameter", ["2xx"], (context) => `${context.authorizeQuery()}&foo=bar`],
  ["an empty scope", ["2xx"], (context) => context.authorizeQuery({ scope: "" })],
  ["offline_access", ["2xx"], (context) => context.authorizeQuery({ scope: "mcp:read offline_access" })],
  ["prompt=none", ["2xx"], (context) => `${context.authorizeQuery()}&prompt=none`],
  ["a request object", ["2xx"], (context) => `${context.authorizeQuery()}&request=eyJhbGciOiJub25lIn0.e30.`],
  ["response_mode=fragment", ["2xx"], (context) => `${context.authorizeQuery()}&response_mode=fragment`],
];

for (const [name, outcomes, query] of AUTHORIZE_MUTATIONS) {
  add("authorize (valid client)", name, outcomes, (context) => ({ target: `${context.paths.authorize}?${query(context)}` }), (response) => {
    expect(response.headers.get("location") ?? "").not.toMatch(/[\r\n]/);
  });
}

/** Form bodies for the token, revocation, consent and introspection endpoints. */
const FORM_BODIES: Array<[string, (context: FuzzContext) => { body: string | Buffer; headers?: Array<[string, string]> }]> = [
  ["an empty body", () => ({ body: "" })],
  ["only separators", () => ({ body: "&&&" })],
  ["an empty name", () => ({ body: "=x" })],
  ["bad percent-encodings", () => ({ body: "grant_type=%zz&token=%zz&transaction=%zz" })],
  ["truncated percent-encodings", () => ({ body: "grant_type=%&token=%4&transaction=%" })],
  ["NUL bytes", () => ({ body: "grant_type=authorization_code%00&token=a%00&client_id=%00" })],
  ["lone surrogates", () => ({ body: "grant_type=%ED%A0%80&token=%ED%A0%80&client_id=%ED%A0%80" })],
  ["bracket array syntax", () => ({ body: "grant_type[]=authorization_code&token[]=a&client_id[]=x" })],
  ["bracket object syntax", () => ({ body: "grant_type[a]=b&token[a]=b&client_id[a]=x" })],
  ["prototype pollution names", () => ({ body: "__proto__=x&constructor=y&toString=z&hasOwnProperty=1" })],
  ["repeated names", () => ({ body: "grant_type=a&grant_type=b&token=a&token=b&client_id=a&client_id=b" })],
  ["65 parameters", () => ({ body: Array.from({ length: 65 }, (_, index) => `p${index}=1`).join("&") })],
  ["a 40 KB body", () => ({ body: `token=${"a".repeat(40 * 1024)}` })],
  ["a 31 KB value", (context) => ({ body: `grant_type=refresh_token&refresh_token=${"a".repeat(31 * 1024)}&client_id=${encodeURIComponent(context.publicClient.client_id)}` })],
  ["raw 0xFF bytes", () => ({ body: Buffer.from([0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x3d, 0xff, 0xfe, 0xff]) })],
  ["an emoji name", () => ({ body: "%F0%9F%98%80=1&token=%F0%9F%98%80" })],
  ["plus signs", () => ({ body: "grant_type=+&token=+&client_id=+" })],
  ["HTML values", () => ({ body: "token=%3Cscript%3E&client_id=%3Cscript%3E&grant_type=%3Cb%3E" })],
  ["JSON text labelled as a form", () => ({ body: '{"grant_type":"authorization_code","token":"x"}' })],
  ["a multipart body", () => ({ body: "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\na\r\n--x--\r\n", headers: [["Content-Type", "multipart/form-data; boundary=x"]] })],
  ["a form labelled as JSON", () => ({ body: "grant_type=authorization_code&token=x", headers: [["Content-Type", JSON_TYPE]] })],
  ["invalid JSON labelled as JSON", () => ({ body: "{", headers: [["Content-Type", JSON_TYPE]] })],
  ["no content type", () => ({ body: "grant_type=authorization_code&token=x", headers: [] })],
  ["text/plain", () => ({ body: "grant_type=authorization_code&token=x", headers: [["Content-Type", "text/plain"]] })],
  ["charset utf-16", () => ({ body: "grant_type=authorization_code", headers: [["Content-Type", `${FORM}; charset=utf-16`]] })],
  ["an unknown charset", () => ({ body: "grant_type=authorization_code", headers: [["Content-Type", `${FORM}; charset=bogus`]] })],
  ["a malformed content type", () => ({ body: "grant_type=authorization_code", headers: [["Content-Type", `${FORM};;;==`]] })],
  ["a gzip-encoded form", () => ({ body: gzipSync("grant_type=authorization_code&token=x&client_id=x"), headers: [["Content-Type", FORM], ["Content-Encoding", "gzip"]] })],
  ["gzip encoding of garbage", () => ({ body: Buffer.from("not gzip at all"), headers: [["Content-Type", FORM], ["Content-Encoding", "gzip"]] })],
  ["brotli encoding of garbage", () => ({ body: Buffer.from("not brotli"), headers: [["Content-Type", FORM], ["Content-Encoding", "br"]] })],
  ["an unknown content encoding", () => ({ body: "token=x", headers: [["Content-Type", FORM], ["Content-Encoding", "bogus"]] })],
  ["a gzip bomb of 1 MB", () => ({ body: gzipSync(`token=${"a".repeat(1024 * 1024)}`), headers: [["Content-Type", FORM], ["Content-Encoding", "gzip"]] })],
  ["Basic without credentials", () => ({ body: "grant_type=refresh_token&refresh_token=x&token=x", headers: [["Content-Type", FORM], ["Authorization", "Basic"]] })],
  ["Basic that is not base64", () => ({ body: "grant_type=refresh_token&refresh_token=x&token=x", headers: [["Content-Type", FORM], ["Authorization", "Basic !!!***"]] })],
  ["Basic without a colon", () => ({ body: "grant_type=refresh_token&token=x", headers: [["Content-Type", FORM], ["Authorization", `Basic ${Buffer.from("nocolon").toString("base64")}`]] })],
  ["Basic with an empty client id", () => ({ body: "grant_type=refresh_token&token=x", headers: [["Content-Type", FORM], ["Authorization", `Basic ${Buffer.from(":secret").toString("base64")}`]] })],
  ["Basic with bad percent-encodings", () => ({ body: "grant_type=refresh_token&token=x", headers: [["Content-Type", FORM], ["Authorization", `Basic ${Buffer.from("%zz:%zz").toString("base64")}`]] })],
  ["Basic with invalid UTF-8", () => ({ body: "grant_type=refresh_token&token=x", headers: [["Content-Type", FORM], ["Authorization", `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0xff]).toString("base64")}`]] })],
  ["a Bearer header", () => ({ body: "grant_type=refresh_token&token=x", headers: [["Content-Type", FORM], ["Authorization", "Bearer abc"]] })],
  ["Basic and a body secret together", (context) => ({
    body: "grant_type=refresh_token&refresh_token=x&token=x&client_secret=s",
    headers: [["Content-Type", FORM], ["Authorization", `Basic ${Buffer.from(`${encodeURIComponent(context.confidentialClient.client_id)}:s`).toString("base64")}`]],
  })],
  ["a real client with a short code_verifier", (context) => ({ body: `grant_type=authorization_code&code=x&code_verifier=short&client_id=${encodeURIComponent(context.publicClient.client_id)}` })],
  ["a real client with a 10 KB refresh token", (context) => ({ body: `grant_type=refresh_token&refresh_token=${"r".repeat(10_000)}&client_id=${encodeURIComponent(context.publicClient.client_id)}` })],
  ["a real refresh token with a control character in scope", (context) => ({ body: `grant_type=refresh_token&refresh_token=${context.refreshToken}&client_id=${encodeURIComponent(context.publicClient.client_id)}&scope=%01` })],
  ["a real refresh token with a malformed resource", (context) => ({ body: `grant_type=refresh_token&refresh_token=${context.refreshToken}&client_id=${encodeURIComponent(context.publicClient.client_id)}&resource=%zz` })],
  ["a real client with a wrong secret", (context) => ({ body: `grant_type=refresh_token&refresh_token=x&client_id=${encodeURIComponent(context.confidentialClient.client_id)}&client_secret=wrong` })],
];

for (const [name, build] of FORM_BODIES) {
  for (const endpoint of ["token", "revoke", "consent", "introspect"] as const) {
    add(endpoint, name, ["4xx"], (context) => {
      const { body, headers } = build(context);
      return formRequest(context.paths[endpoint], body, headers);
    });
  }
}

add("revoke", "a garbage token from a real client", ["2xx"], (context) =>
  formRequest(context.paths.revoke, `token=${"%00garbage".repeat(50)}&token_type_hint=%zz&client_id=${encodeURIComponent(context.publicClient.client_id)}`));
add("revoke", "an unknown token_type_hint", ["2xx"], (context) =>
  formRequest(context.paths.revoke, `token=x&token_type_hint=id_token&client_id=${encodeURIComponent(context.publicClient.client_id)}`));

const INTROSPECTION_CALLER = { id: "resource-server", secret: "r".repeat(32) };
const callerBasic = (secret = INTROSPECTION_CALLER.secret): [string, string] =>
  ["Authorization", `Basic ${Buffer.from(`${INTROSPECTION_CALLER.id}:${secret}`).toString("base64")}`];

add("introspect", "a garbage token from the allowed caller", ["2xx"], (context) =>
  formRequest(context.paths.introspect, `token=${"%00garbage".repeat(50)}&token_type_hint=%zz`, [["Content-Type", FORM], callerBasic()]), (response) => {
  expect(JSON.parse(response.body)).toEqual({ active: false });
});
add("introspect", "a real access token from the allowed caller", ["2xx"], (context) =>
  formRequest(context.paths.introspect, `token=${context.accessToken}`, [["Content-Type", FORM], callerBasic()]), (response) => {
  expect((JSON.parse(response.body) as { active: boolean }).active).toBe(true);
});
add("introspect", "the allowed caller with a wrong secret", ["4xx"], (context) =>
  formRequest(context.paths.introspect, `token=${context.accessToken}`, [["Content-Type", FORM], callerBasic("w".repeat(32))]));
add("introspect", "the allowed caller with a repeated token", ["4xx"], (context) =>
  formRequest(context.paths.introspect, `token=a&token=b`, [["Content-Type", FORM], callerBasic()]));

const VALID_METADATA = JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" });

/** Registration bodies: invalid JSON, hostile JSON and wrong types. */
const REGISTRATION_BODIES: Array<[string, Outcome[], string | Buffer, Array<[string, string]>?]> = [
  ["an unterminated object", ["4xx"], "{"],
  ["an unterminated array", ["4xx"], "["],
  ["a misspelled literal", ["4xx"], "nul"],
  ["a missing value", ["4xx"], '{"a":}'],
  ["a trailing comma", ["4xx"], `{"redirect_uris":["${REDIRECT_URI}",]}`],
  ["a byte order mark", ["2xx", "4xx"], `\uFEFF${VALID_METADATA}`],
  ["a NUL byte", ["4xx"], "\u0000"],
  ["an empty body", ["4xx"], ""],
  ["10,000 nested arrays", ["4xx"], `${"[".repeat(10_000)}${"]".repeat(10_000)}`],
  ["5,000 nested objects", ["4xx"], `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`],
  ["a number beyond double range", ["4xx"], `{"redirect_uris":["${REDIRECT_URI}"],"client_name":1e400}`],
  ["a lone surrogate in client_name", ["2xx"], `{"redirect_uris":["${REDIRECT_URI}"],"token_endpoint_auth_method":"none","client_name":"\\ud800"}`],
  ["a NUL byte in client_name", ["2xx", "4xx"], `{"redirect_uris":["${REDIRECT_URI}"],"token_endpoint_auth_method":"none","client_name":"a\\u0000b"}`],
  ["an internationalized host", ["4xx"], '{"redirect_uris":["http://例え.jp/cb"]}'],
  ["a punycode https host", ["2xx"], '{"redirect_uris":["https://xn--r8jz45g.jp/cb"],"token_endpoint_auth_method":"none"}'],
  ["metadata under __proto__", ["4xx"], `{"__proto__":{"redirect_uris":["${REDIRECT_URI}"]}}`],
  ["a constructor.prototype member", ["2xx"], `{"constructor":{"prototype":{"x":1}},"redirect_uris":["${REDIRECT_URI}"],"token_endpoint_auth_method":"none"}`],
  ["a duplicated key whose last value is wrong", ["4xx"], `{"redirect_uris":["${REDIRECT_URI}"],"redirect_uris":"x"}`],
  ["2,000 unknown members", ["2xx"], JSON.stringify({ ...Object.fromEntries(Array.from({ length: 2000 }, (_, index) => [`k${index}`, 1])), redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" })],
  ["a 40 KB body", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], padding: "p".repeat(40 * 1024) })],
  ["JSON labelled text/plain", ["4xx"], VALID_METADATA, [["Content-Type", "text/plain"]]],
  ["JSON labelled as a form", ["4xx"], VALID_METADATA, [["Content-Type", FORM]]],
  ["no content type", ["4xx"], VALID_METADATA, []],
  ["charset utf-16", ["4xx"], VALID_METADATA, [["Content-Type", `${JSON_TYPE}; charset=utf-16`]]],
  ["charset latin1", ["4xx"], VALID_METADATA, [["Content-Type", `${JSON_TYPE}; charset=latin1`]]],
  ["a vendor JSON type", ["4xx"], VALID_METADATA, [["Content-Type", "application/vnd.api+json"]]],
  ["gzip-encoded JSON", ["2xx"], gzipSync(VALID_METADATA), [["Content-Type", JSON_TYPE], ["Content-Encoding", "gzip"]]],
  ["gzip encoding of garbage", ["4xx"], Buffer.from("garbage"), [["Content-Type", JSON_TYPE], ["Content-Encoding", "gzip"]]],
  ["a gzip bomb of 1 MB", ["4xx"], gzipSync(`{"client_name":"${"a".repeat(1024 * 1024)}"}`), [["Content-Type", JSON_TYPE], ["Content-Encoding", "gzip"]]],
  ["an unknown content encoding", ["4xx"], VALID_METADATA, [["Content-Type", JSON_TYPE], ["Content-Encoding", "bogus"]]],
  ["a client_id and secret chosen by the client", ["2xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", client_id: "attacker", client_secret: "x" })],
  ["private_key_jwt", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "private_key_jwt" })],
  ["an empty redirect URI", ["4xx"], JSON.stringify({ redirect_uris: [""] })],
  ["a redirect URI with a NUL byte", ["4xx"], JSON.stringify({ redirect_uris: [`${REDIRECT_URI}\u0000`] })],
  ["a redirect URI with a fragment", ["4xx"], JSON.stringify({ redirect_uris: [`${REDIRECT_URI}#x`] })],
  ["a data: redirect URI", ["4xx"], JSON.stringify({ redirect_uris: ["data:text/html,<script>alert(1)</script>"] })],
  ["a repeated grant type", ["2xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", grant_types: ["authorization_code", "authorization_code"] })],
  ["a scope with a control character", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], scope: "a\u0001b" })],
  ["numeric contacts", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], contacts: [1] })],
  ["a malformed jwks member", ["2xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", jwks: { keys: "x" } })],
  ["a garbage software_statement", ["2xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", software_statement: "garbage" })],
  ["a 3,000-character client_uri", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], client_uri: `https://a.example/${"x".repeat(3000)}` })],
  ["a javascript: logo_uri", ["4xx"], JSON.stringify({ redirect_uris: [REDIRECT_URI], logo_uri: "javascript:alert(1)" })],
];

for (const [name, outcomes, body, headers] of REGISTRATION_BODIES) {
  add("register", name, outcomes, (context) => formRequest(context.paths.register, body, headers ?? [["Content-Type", JSON_TYPE]]));
}

/** Requests to the protected MCP route, with and without a valid token. */
const MCP_REQUESTS: Array<[string, Outcome[], (context: FuzzContext) => RawRequest]> = [
  ["no Authorization header", ["4xx"], (context) => mcpPost(context, [])],
  ["the Bearer scheme alone", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer"]])],
  ["Bearer and a space", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer "]])],
  ["two spaces before the token", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer  abc"]])],
  ["a lower-case scheme and a garbage token", ["4xx"], (context) => mcpPost(context, [["Authorization", "bearer garbage"]])],
  ["a 10 KB token", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${"a".repeat(10_000)}`]])],
  ["a three-part garbage token", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer a.b.c"]])],
  ["an alg none token", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${unsignedToken(context)}`]])],
  ["a token with a 5 KB header", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${Buffer.from(JSON.stringify({ alg: "HS256", pad: "x".repeat(5000) })).toString("base64url")}.e30.sig`]])],
  ["Basic credentials", ["4xx"], (context) => mcpPost(context, [["Authorization", "Basic YTpi"]])],
  ["two tokens in one header", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer x, Bearer y"]])],
  ["two Authorization headers", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer x"], ["Authorization", `Bearer ${context.accessToken}`]])],
  ["a tab inside the token", ["4xx"], (context) => mcpPost(context, [["Authorization", "Bearer a\tb"]])],
  ["a token in the query only", ["4xx"], (context) => ({ ...mcpPost(context, []), target: `${context.paths.mcp}?access_token=${context.accessToken}` })],
  ["HEAD without a token", ["4xx"], (context) => ({ method: "HEAD", target: context.paths.mcp })],
  ["a valid token and invalid JSON", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${context.accessToken}`]], "{")],
  ["a valid token and a JSON array of garbage", ["2xx", "4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${context.accessToken}`]], "[1,2,3]")],
  ["a valid token and text/plain", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${context.accessToken}`]], "hello", "text/plain")],
  ["a valid token and DELETE", ["2xx", "4xx"], (context) => ({ method: "DELETE", target: context.paths.mcp, headers: [["Authorization", `Bearer ${context.accessToken}`]] })],
  ["a valid token and PUT", ["4xx"], (context) => ({ method: "PUT", target: context.paths.mcp, headers: [["Authorization", `Bearer ${context.accessToken}`], ["Content-Type", JSON_TYPE]], body: "{}" })],
  ["a valid token and a 200 KB body", ["4xx"], (context) => mcpPost(context, [["Authorization", `Bearer ${context.accessToken}`]], JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "p".repeat(200 * 1024) } }))],
  ["a valid token and an unacceptable Accept", ["4xx"], (context) => ({ ...mcpPost(context, [["Authorization", `Bearer ${context.accessToken}`]]), headers: [["Authorization", `Bearer ${context.accessToken}`], ["Content-Type", JSON_TYPE], ["Accept", "image/png"]] })],
  ["a valid token with a lower-case scheme", ["2xx"], (context) => mcpPost(context, [["Authorization", `bearer ${context.accessToken}`]])],
  ["a valid token and a GET without an event-stream Accept", ["4xx"], (context) => ({ target: context.paths.mcp, headers: [["Authorization", `Bearer ${context.accessToken}`], ["Accept", "application/json"]] })],
];

function mcpPost(context: FuzzContext, headers: Array<[string, string]>, body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), type = JSON_TYPE): BuiltRequest {
  return {
    method: "POST",
    target: context.paths.mcp,
    headers: [["Content-Type", type], ["Accept", "application/json, text/event-stream"], ...headers],
    body,
  };
}

function unsignedToken(context: FuzzContext): string {
  const [, payload] = context.accessToken.split(".");
  return `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${payload}.`;
}

for (const [name, outcomes, build] of MCP_REQUESTS) {
  add("mcp", name, outcomes, build, (response) => {
    if (response.status === 401) {
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer .*resource_metadata="/);
    }
  });
}

/** Well-known URLs and odd paths that clients and scanners probe. */
const PROBES: Array<[string, Outcome[], string, string?]> = [
  ["authorization server metadata", ["2xx"], "/.well-known/oauth-authorization-server"],
  ["authorization server metadata with a trailing slash", ["2xx"], "/.well-known/oauth-authorization-server/"],
  ["authorization server metadata in upper case", ["2xx"], "/.WELL-KNOWN/OAUTH-AUTHORIZATION-SERVER"],
  ["authorization server metadata for a path issuer", ["4xx"], "/.well-known/oauth-authorization-server/mcp"],
  ["authorization server metadata for /oauth", ["4xx"], "/.well-known/oauth-authorization-server/oauth"],
  ["authorization server metadata with dot segments", ["2xx", "4xx"], "/.well-known/oauth-authorization-server/%2e%2e/%2e%2e/etc/passwd"],
  ["authorization server metadata with a NUL byte", ["4xx"], "/.well-known/oauth-authorization-server%00"],
  ["authorization server metadata with a matrix parameter", ["4xx"], "/.well-known/oauth-authorization-server;x=1"],
  ["authorization server metadata with a doubled slash", ["2xx", "4xx"], "//.well-known/oauth-authorization-server"],
  ["authorization server metadata with an inner doubled slash", ["2xx", "4xx"], "/.well-known//oauth-authorization-server"],
  ["authorization server metadata by POST", ["4xx"], "/.well-known/oauth-authorization-server", "POST"],
  ["authorization server metadata by PUT", ["4xx"], "/.well-known/oauth-authorization-server", "PUT"],
  ["authorization server metadata by DELETE", ["4xx"], "/.well-known/oauth-authorization-server", "DELETE"],
  ["authorization server metadata by PATCH", ["4xx"], "/.well-known/oauth-authorization-server", "PATCH"],
  ["authorization server metadata by HEAD", ["2xx"], "/.well-known/oauth-authorization-server", "HEAD"],
  ["OpenID configuration", ["4xx"], "/.well-known/openid-configuration"],
  ["OpenID configuration for a path issuer", ["4xx"], "/.well-known/openid-configuration/mcp"],
  ["OpenID configuration under the resource path", ["4xx"], "/mcp/.well-known/openid-configuration"],
  ["authorization server metadata under the resource path", ["4xx"], "/mcp/.well-known/oauth-authorization-server"],
  ["protected resource metadata", ["2xx"], "/.well-known/oauth-protected-resource/mcp"],
  ["root protected resource metadata", ["2xx"], "/.well-known/oauth-protected-resource"],
  ["protected resource metadata with a trailing slash", ["2xx", "4xx"], "/.well-known/oauth-protected-resource/mcp/"],
  ["protected resource metadata for an unknown resource", ["4xx"], "/.well-known/oauth-protected-resource/other"],
  ["protected resource metadata with dot segments", ["2xx", "4xx"], "/.well-known/oauth-protected-resource/mcp/../mcp"],
  ["protected resource metadata with an encoded slash", ["4xx"], "/.well-known/oauth-protected-resource%2Fmcp"],
  ["protected resource metadata with a NUL byte", ["4xx"], "/.well-known/oauth-protected-resource/%00"],
  ["protected resource metadata with a 4,000-character path", ["4xx"], `/.well-known/oauth-protected-resource/${"a".repeat(4000)}`],
  ["protected resource metadata under the resource path", ["4xx"], "/mcp/.well-known/oauth-protected-resource"],
  ["protected resource metadata by POST", ["4xx"], "/.well-known/oauth-protected-resource/mcp", "POST"],
  ["the well-known folder", ["4xx"], "/.well-known/"],
  ["a lone percent sign", ["4xx"], "/.well-known/%"],
  ["a bad percent-encoding", ["4xx"], "/.well-known/%zz"],
  ["JWKS at a well-known name", ["4xx"], "/.well-known/jwks.json"],
  ["WebFinger", ["4xx"], "/.well-known/webfinger?resource=acct:alice@127.0.0.1"],
  ["security.txt", ["4xx"], "/.well-known/security.txt"],
  ["the OAuth folder", ["4xx"], "/oauth"],
  ["an unknown OAuth endpoint", ["4xx"], "/oauth/userinfo"],
  ["an OAuth endpoint in upper case", ["4xx"], "/OAUTH/AUTHORIZE"],
  ["an OAuth endpoint with dot segments", ["4xx"], "/oauth/../oauth/authorize"],
  ["the root", ["4xx"], "/"],
  ["a path of 8,000 characters", ["4xx"], `/${"x".repeat(8000)}`],
  ["a Unicode path", ["4xx"], "/%E2%80%AE%F0%9F%98%80"],
  ["the registration endpoint by GET", ["4xx"], "/oauth/register"],
  ["the revocation endpoint by GET", ["4xx"], "/oauth/revoke"],
  ["the consent endpoint by GET", ["4xx"], "/oauth/consent"],
  ["the authorization endpoint by POST", ["4xx"], "/oauth/authorize", "POST"],
  ["the callback endpoint by POST", ["4xx"], "/oauth/callback", "POST"],
  ["the token endpoint by DELETE", ["4xx"], "/oauth/token", "DELETE"],
];

for (const [name, outcomes, path, method] of PROBES) {
  add("probe", name, outcomes, () => ({ method: method ?? "GET", target: path, ...(method === "POST" || method === "PUT" || method === "PATCH" ? { headers: [["Content-Type", JSON_TYPE]] as Array<[string, string]>, body: "{}" } : {}) }));
}

/** Consent submissions with a real transaction and browser session, each changed in one way. */
const CONSENT_MUTATIONS: Array<[string, Outcome[], (form: { cookie: string; fields: Record<string, string> }, context: FuzzContext) => RawRequest]> = [
  ["a wrong CSRF token", ["4xx"], (form, context) => consentPost(context, form.cookie, { ...form.fields, csrf_token: "forged" })],
  ["no CSRF token", ["4xx"], (form, context) => consentPost(context, form.cookie, { ...form.fields, csrf_token: "" })],
  ["a CSRF token with a NUL byte", ["4xx"], (form, context) => consentPost(context, form.cookie, { ...form.fields, csrf_token: `${form.fields.csrf_token}\u0000` })],
  ["decision=maybe", ["4xx"], (form, context) => consentPost(context, form.cookie, { ...form.fields, decision: "maybe" })],
  ["a repeated decision", ["4xx"], (form, context) => consentPost(context, form.cookie, form.fields, "&decision=deny")],
  ["a repeated transaction", ["4xx"], (form, context) => consentPost(context, form.cookie, form.fields, `&transaction=${form.fields.transaction}`)],
  ["a 30 KB transaction id", ["4xx"], (form, context) => consentPost(context, form.cookie, { ...form.fields, transaction: "t".repeat(30 * 1024) })],
  ["Origin: null", ["4xx"], (form, context) => consentPost(context, form.cookie, form.fields, "", [["Origin", "null"]])],
  ["a foreign Origin", ["4xx"], (form, context) => consentPost(context, form.cookie, form.fields, "", [["Origin", "https://evil.example"]])],
  ["no session cookie", ["4xx"], (form, context) => consentPost(context, "", form.fields)],
  ["a session cookie with a forged signature", ["4xx"], (form, context) => consentPost(context, form.cookie.replace(/\.[^.;]+$/, ".forged"), form.fields)],
  ["a JSON body", ["4xx"], (form, context) => ({ ...consentPost(context, form.cookie, form.fields), headers: [["Content-Type", JSON_TYPE], ["Cookie", form.cookie]], body: JSON.stringify(form.fields) })],
  ["65 parameters", ["4xx"], (form, context) => consentPost(context, form.cookie, form.fields, `&${Array.from({ length: 62 }, (_, index) => `p${index}=1`).join("&")}`)],
  ["the genuine approval", ["redirect-upstream"], (form, context) => consentPost(context, form.cookie, form.fields)],
  ["the genuine denial", ["redirect-error"], (form, context) => consentPost(context, form.cookie, { ...form.fields, decision: "deny" })],
];

function consentPost(context: FuzzContext, cookie: string, fields: Record<string, string>, extra = "", headers: Array<[string, string]> = []): BuiltRequest {
  return {
    method: "POST",
    target: context.paths.consent,
    headers: [["Content-Type", FORM], ...(cookie === "" ? [] : [["Cookie", cookie] as [string, string]]), ...headers],
    body: new URLSearchParams(fields).toString() + extra,
  };
}

for (const [name, outcomes, build] of CONSENT_MUTATIONS) {
  add("consent (real transaction)", name, outcomes, async (context) => build(await context.consent(), context));
}

/** Upstream callbacks for a real approved flow, each changed in one way. */
const CALLBACK_MUTATIONS: Array<[string, Outcome[], (flow: { cookie: string; state: string }, context: FuzzContext) => string]> = [
  ["a garbage code", ["redirect-error"], (flow, context) => `state=${flow.state}&code=garbage&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["a 10 KB code", ["redirect-error"], (flow, context) => `state=${flow.state}&code=${"c".repeat(10_000)}&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["a code with a NUL byte", ["redirect-error"], (flow, context) => `state=${flow.state}&code=a%00b&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["an upstream access_denied", ["redirect-error"], (flow, context) => `state=${flow.state}&error=access_denied&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["an unknown upstream error", ["redirect-error"], (flow, context) => `state=${flow.state}&error=%3Cscript%3E&error_description=%0D%0A&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["no code and no error", ["redirect-error"], (flow, context) => `state=${flow.state}&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["no iss", ["4xx"], (flow) => `state=${flow.state}&code=garbage`],
  ["a foreign iss", ["4xx"], (flow) => `state=${flow.state}&code=garbage&iss=https%3A%2F%2Fevil.example`],
  ["a repeated code", ["4xx"], (flow, context) => `state=${flow.state}&code=a&code=b&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["a repeated state", ["4xx"], (flow, context) => `state=${flow.state}&state=${flow.state}&code=a&iss=${encodeURIComponent(context.upstreamIssuer)}`],
  ["a redirect_uri parameter", ["redirect-error"], (flow, context) => `state=${flow.state}&code=garbage&redirect_uri=https%3A%2F%2Fevil.example&iss=${encodeURIComponent(context.upstreamIssuer)}`],
];

for (const [name, outcomes, query] of CALLBACK_MUTATIONS) {
  add("callback (real flow)", name, outcomes, async (context) => {
    const flow = await context.flow();
    return { target: `${context.paths.callback}?${query(flow, context)}`, headers: [["Cookie", flow.cookie]] };
  });
}
add("callback (real flow)", "the flow without its session cookie", ["4xx"], async (context) => {
  const flow = await context.flow();
  return { target: `${context.paths.callback}?state=${flow.state}&code=x&iss=${encodeURIComponent(context.upstreamIssuer)}` };
});
add("callback (real flow)", "a replayed callback", ["4xx"], async (context) => {
  const flow = await context.flow();
  const request: RawRequest = { target: `${context.paths.callback}?state=${flow.state}&error=access_denied&iss=${encodeURIComponent(context.upstreamIssuer)}`, headers: [["Cookie", flow.cookie]] };
  await send(context.port, request);
  return request;
});

function rawBytes(text: string, ...extra: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(text, "latin1"), ...extra]);
}

/** Header and framing abuse, written byte for byte. */
const HEADER_ABUSE: Array<[string, Outcome[], (context: FuzzContext) => RawRequest]> = [
  ["a NUL byte in a header value", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nX-Test: a\u0000b\r\nContent-Length: 0\r\n\r\n`) })],
  ["a bare CR in a header value", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nX-Test: a\rb\r\nContent-Length: 0\r\n\r\n`) })],
  ["a header line without a colon", ["4xx"], (context) => ({ raw: rawBytes(`GET ${context.paths.asMetadata} HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n`) })],
  ["a space in a header name", ["4xx"], (context) => ({ raw: rawBytes(`GET ${context.paths.asMetadata} HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n`) })],
  ["a 20 KB header", ["4xx"], (context) => ({ target: context.paths.authorize, headers: [["X-Padding", "p".repeat(20 * 1024)]] })],
  ["300 headers", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ...Array.from({ length: 300 }, (_, index) => [`X-H${index}`, "1"] as [string, string])])],
  ["conflicting Content-Length headers", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde`) })],
  ["Content-Length with Transfer-Encoding", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`) })],
  ["an invalid chunk size", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`) })],
  ["a negative Content-Length", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`) })],
  ["a non-numeric Content-Length", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`) })],
  ["no Host header", ["4xx"], (context) => ({ target: context.paths.asMetadata, noHost: true })],
  ["HTTP/1.0 without a Host header", ["2xx"], (context) => ({ raw: rawBytes(`GET ${context.paths.asMetadata} HTTP/1.0\r\n\r\n`) })],
  ["an unknown method", ["4xx"], (context) => ({ raw: rawBytes(`FOO ${context.paths.token} HTTP/1.1\r\nHost: x\r\n\r\n`) })],
  ["OPTIONS *", ["2xx", "4xx"], () => ({ raw: rawBytes("OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") })],
  ["a raw 0xFF byte in the request target", ["2xx", "4xx"], (context) => ({ raw: rawBytes(`GET ${context.paths.authorize}?client_id=`, Buffer.from([0xff]), Buffer.from(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) })],
  ["a raw 0xFF byte in a header value", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Basic `, Buffer.from([0xff]), Buffer.from("\r\nContent-Length: 0\r\n\r\n")) })],
  ["Expect: 100-continue", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ["Expect", "100-continue"]])],
  ["an unknown Expect", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ["Expect", "magic"]])],
  ["a valid chunked form", ["4xx"], (context) => ({ raw: rawBytes(`POST ${context.paths.token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\n7\r\n_type=x\r\n0\r\n\r\n`) })],
  ["a garbage X-Forwarded-For", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ["X-Forwarded-For", "not-an-ip, ::ffff:999.1.1.1"]])],
  ["1,000 X-Forwarded-For entries", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ["X-Forwarded-For", Array.from({ length: 1000 }, (_, index) => `10.0.${index >> 8}.${index & 255}`).join(", ")]])],
  ["Origin: null on a preflight", ["2xx"], (context) => ({ method: "OPTIONS", target: context.paths.register, headers: [["Origin", "null"], ["Access-Control-Request-Method", "POST"]] })],
  ["a content type of separators", ["4xx"], (context) => formRequest(context.paths.register, VALID_METADATA, [["Content-Type", ";;;"]])],
  ["a garbage Accept", ["2xx"], (context) => ({ target: context.paths.asMetadata, headers: [["Accept", "}}}{{{"]] })],
  ["a 10 KB cookie", ["4xx"], (context) => ({ target: `${context.paths.authorize}?client_id=x`, headers: [["Cookie", `mcp-oauth-proxy=s%3A${"%zz".repeat(3000)}`]] })],
  ["a 15 KB Authorization header", ["4xx"], (context) => formRequest(context.paths.token, "grant_type=x", [["Content-Type", FORM], ["Authorization", `Basic ${"A".repeat(15 * 1024)}`]])],
];

for (const [name, outcomes, build] of HEADER_ABUSE) {
  add("headers", name, outcomes, build);
}

/** Requests whose Host or forwarding headers must not change the issuer the proxy publishes. */
const ISSUER_PROBES: Array<[string, Array<[string, string]>]> = [
  ["a foreign Host", [["Host", "evil.example"]]],
  ["X-Forwarded-Host", [["X-Forwarded-Host", "evil.example"], ["X-Forwarded-Proto", "https"]]],
  ["Forwarded", [["Forwarded", "host=evil.example;proto=https"]]],
];

for (const [name, headers] of ISSUER_PROBES) {
  add("authorization server metadata", `${name} keeps the issuer`, ["2xx"], (context) => ({ target: context.paths.asMetadata, headers, noHost: headers.some(([header]) => header === "Host") }), (response, context) => {
    expect((JSON.parse(response.body) as { issuer: string }).issuer).toBe(context.issuer);
  });
}
add("authorization server metadata", "an absolute-form request target keeps the issuer", ["2xx", "4xx"], (context) => ({ target: `http://evil.example${context.paths.asMetadata}` }), (response, context) => {
  if (response.status === 200) {
    expect((JSON.parse(response.body) as { issuer: string }).issuer).toBe(context.issuer);
  }
});

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

let harness: Harness;
let context: FuzzContext;

beforeAll(async () => {
  const generous = { limit: 100_000 };
  harness = await Harness.start({
    proxyOptions: {
      rateLimits: { register: generous, authorize: generous, token: generous, tokenPerClient: generous, revoke: generous },
      // ES256 and an introspection caller turn on /oauth/jwks and /oauth/introspect, so they are fuzzed too.
      jwt: { algorithm: "ES256" },
      introspection: { clients: [INTROSPECTION_CALLER] },
    },
  });
  const publicClient = await harness.register();
  const confidentialClient = await harness.register({ token_endpoint_auth_method: "client_secret_post", redirect_uris: ["https://app.example.com/cb"] });
  const tokens = await harness.obtainTokens(publicClient.client_id);
  const metadata = harness.metadata;
  const pathOf = (url: string | undefined, fallback: string): string => (url === undefined ? fallback : new URL(url).pathname);
  // The proxy's session cookie as a Cookie header, read from the response that set it.
  const sessionCookie = (headers: Headers): string => {
    const cookie = headers.getSetCookie().find((header) => header.startsWith("mcp-oauth-proxy="));
    return cookie?.split(";")[0] ?? "";
  };

  const consent = async (): Promise<{ cookie: string; fields: Record<string, string>; browser: TestBrowser }> => {
    const browser = new TestBrowser();
    const page = await browser.get(harness.authorizeUrl(publicClient.client_id));
    const fields = parseForm(page.body, { buttonValue: "approve" }).fields;
    return { cookie: sessionCookie(page.headers), fields, browser };
  };

  context = {
    port: Number(new URL(harness.baseUrl).port),
    issuer: harness.issuer,
    upstreamIssuer: harness.demo.upstream.issuer,
    paths: {
      asMetadata: "/.well-known/oauth-authorization-server",
      prm: "/.well-known/oauth-protected-resource/mcp",
      prmRoot: "/.well-known/oauth-protected-resource",
      register: pathOf(metadata.registration_endpoint, "/oauth/register"),
      authorize: pathOf(metadata.authorization_endpoint, "/oauth/authorize"),
      consent: "/oauth/consent",
      callback: "/oauth/callback",
      token: pathOf(metadata.token_endpoint, "/oauth/token"),
      revoke: pathOf(metadata.revocation_endpoint, "/oauth/revoke"),
      introspect: pathOf(metadata.introspection_endpoint, "/oauth/introspect"),
      jwks: pathOf(metadata.jwks_uri, "/oauth/jwks"),
      mcp: new URL(harness.mcpUrl).pathname,
    },
    publicClient,
    confidentialClient,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    authorizeQuery: (overrides = {}) => harness.authorizeUrl(publicClient.client_id, overrides).search.slice(1),
    consent,
    async flow() {
      const form = await consent();
      const approved = await form.browser.postForm(`${harness.baseUrl}/oauth/consent`, form.fields, { origin: harness.issuer });
      const state = new URL(approved.location ?? "").searchParams.get("state") ?? "";
      return { cookie: sessionCookie(approved.headers), state };
    },
  };
});

afterAll(async () => {
  await harness.close();
});

describe("fuzz table", () => {
  it("has at least 200 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });

  for (const fuzzCase of cases) {
    it(`${fuzzCase.endpoint}: ${fuzzCase.name}`, async () => {
      const request = await fuzzCase.build(context);
      const response = await send(context.port, request);
      const method = "raw" in request ? request.raw.toString("latin1").split(" ")[0] ?? "" : request.method ?? "GET";

      expect(response.status).toBeLessThan(500);
      if (fuzzCase.bodyFromHostApp === true) {
        expect(response.status).toBeGreaterThanOrEqual(400);
        return;
      }
      expect(stackTraceProblem(response)).toBeUndefined();
      expect(outcomeProblem(response, fuzzCase.outcomes, method, context)).toBeUndefined();
      fuzzCase.check?.(response, context);
    });
  }
});

describe("fuzz run", () => {
  it("leaves the proxy working", async () => {
    const response = await harness.callMcp(`Bearer ${context.accessToken}`);
    expect(response.status).toBe(200);
  });

  it("still completes a sign-in", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);
    expect(tokens.token_type).toBe("Bearer");
  });
});
