import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import createDebug from "debug";
import { describeOAuthError, OAuthClientError } from "./errors.js";
import { sameUrl } from "./discovery.js";

const debug = createDebug("mcp-oauth-proxy:client");

/** Options of `CallbackServer.start()`. */
export interface CallbackServerOptions {
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** Path of the redirect URI; default `/callback`. */
  path?: string;
}

/** What the authorization response must match, and how long to wait for it. */
export interface CallbackExpectations {
  state: string;
  /** The issuer `iss` must equal (RFC 9207), when known. */
  issuer: string | undefined;
  /** True when the server promises `iss` (`authorization_response_iss_parameter_supported`), so a missing one fails. */
  issuerRequired: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

interface Outcome {
  status: number;
  title: string;
  text: string;
  result: { code: string } | { error: OAuthClientError };
}

/**
 * A one-shot HTTP server on 127.0.0.1 that receives the authorization response
 * at the redirect URI (RFC 8252 §7.3), checks it, shows the browser a short
 * page and shuts down, whatever the outcome.
 */
export class CallbackServer {
  readonly redirectUri: string;
  readonly #server: Server;
  readonly #path: string;
  #handle: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  #closed: Promise<void> | undefined;

  private constructor(server: Server, path: string) {
    this.#server = server;
    this.#path = path;
    this.redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
    server.on("request", (request: IncomingMessage, response: ServerResponse) => this.#route(request, response));
  }

  /** Starts listening; fails with `ERR_MCP_OAUTH_CLIENT_CALLBACK_SERVER` when the port is taken. */
  static async start(options: CallbackServerOptions = {}): Promise<CallbackServer> {
    const server = createServer();
    const port = options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      throw new OAuthClientError(
        "ERR_MCP_OAUTH_CLIENT_CALLBACK_SERVER",
        `The sign-in callback server could not listen on 127.0.0.1:${port}: ${error.code ?? error.message}. Choose another callbackPort, or 0 for any free port.`,
        { cause: error },
      );
    });
    const callback = new CallbackServer(server, options.path ?? "/callback");
    debug("callback listening redirect_uri=%s", callback.redirectUri);
    return callback;
  }

  /** The port the server listens on. */
  get port(): number {
    return Number(new URL(this.redirectUri).port);
  }

  /**
   * Waits for the authorization response and returns its code once `state` and
   * `iss` match. Rejects on a mismatch, an error response, the timeout or an
   * abort. The server is closed before the promise settles.
   */
  waitForCode(expectations: CallbackExpectations): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: Pick<Outcome, "result">): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        expectations.signal?.removeEventListener("abort", onAbort);
        this.#handle = undefined;
        void this.close().then(() => ("code" in outcome.result ? resolve(outcome.result.code) : reject(outcome.result.error)));
      };

      const timer = setTimeout(() => {
        const seconds = Math.round(expectations.timeoutMs / 100) / 10;
        finish({ result: { error: new OAuthClientError(
          "ERR_MCP_OAUTH_CLIENT_TIMEOUT",
          `No authorization response reached ${this.redirectUri} within ${seconds} s, so the sign-in was abandoned. Start it again and finish signing in in the browser, or raise authorizationTimeout.`,
        ) } });
      }, expectations.timeoutMs);

      const onAbort = (): void => {
        finish({ result: { error: new OAuthClientError("ERR_MCP_OAUTH_CLIENT_CANCELLED", "The sign-in was cancelled before the authorization response arrived.") } });
      };
      if (expectations.signal?.aborted) {
        onAbort();
        return;
      }
      expectations.signal?.addEventListener("abort", onAbort, { once: true });

      this.#handle = (request, response) => {
        // One response per sign-in: a second request (a reload) gets the "no sign-in" page.
        this.#handle = undefined;
        clearTimeout(timer);
        const outcome = checkResponse(new URL(request.url ?? "/", this.redirectUri).searchParams, expectations);
        response.writeHead(outcome.status, {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "referrer-policy": "no-referrer",
          connection: "close",
        });
        // The page is sent in full before the server closes.
        response.end(renderPage(outcome.title, outcome.text), () => finish(outcome));
      };
    });
  }

  /** Stops the server and drops open connections; safe to call more than once. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
      debug("callback closed redirect_uri=%s", this.redirectUri);
    });
    return this.#closed;
  }

  #route(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? "/", this.redirectUri).pathname;
    if (request.method !== "GET" || path !== this.#path) {
      // Browsers also ask for /favicon.ico; that must not end the sign-in.
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found");
      return;
    }
    if (this.#handle === undefined) {
      response.writeHead(409, { "content-type": "text/html; charset=utf-8" })
        .end(renderPage("No sign-in in progress", "This application is not waiting for a sign-in right now. Start the sign-in again from the application."));
      return;
    }
    this.#handle(request, response);
  }
}

// The checks run in this order so that a forged response (wrong state) is never read further.
function checkResponse(params: URLSearchParams, expected: CallbackExpectations): Outcome {
  if (params.get("state") !== expected.state) {
    return failure("ERR_MCP_OAUTH_CLIENT_STATE_MISMATCH", "The authorization response has a state that does not belong to this sign-in, so it was rejected as possible cross-site request forgery (RFC 6749 §10.12). Start the sign-in again.");
  }

  const iss = params.get("iss");
  if (iss !== null && expected.issuer !== undefined && !sameUrl(iss, expected.issuer)) {
    return failure("ERR_MCP_OAUTH_CLIENT_ISSUER_MISMATCH", `The authorization response names issuer ${JSON.stringify(iss)}, but this sign-in was sent to ${expected.issuer}; it was rejected as a possible mix-up attack (RFC 9207 §2.4). Start the sign-in again.`);
  }
  if (iss === null && expected.issuerRequired) {
    return failure("ERR_MCP_OAUTH_CLIENT_ISSUER_MISMATCH", `The authorization response has no iss parameter, although ${expected.issuer ?? "the authorization server"} declares that it sends one (RFC 9207 §2.4); it was rejected. Start the sign-in again.`);
  }

  const error = params.get("error");
  if (error !== null) {
    const reason = describeOAuthError(error, params.get("error_description"));
    const message = error === "access_denied"
      ? `The sign-in was declined at the authorization server: ${reason}.`
      : `The authorization server ended the sign-in with ${reason}.`;
    return failure("ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR", message, error);
  }

  const code = params.get("code");
  if (code === null || code === "") {
    return failure("ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR", "The authorization response has neither a code nor an error. Start the sign-in again.");
  }
  return { status: 200, title: "Signed in", text: "You are signed in. You can close this tab and return to the application.", result: { code } };
}

function failure(code: OAuthClientError["code"], message: string, oauthError?: string): Outcome {
  const error = new OAuthClientError(code, message, oauthError === undefined ? {} : { oauthError });
  return { status: 400, title: "Sign-in failed", text: message, result: { error } };
}

function renderPage(title: string, text: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}
