import type { NextFunction, Request, RequestHandler, Response } from "express";
import { InvalidRequestError } from "./errors.js";
import type { OAuthError } from "./errors.js";

/** Wraps an async handler so a rejection reaches Express's error handling on Express 4 as on 5. */
export function asyncHandler(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res).catch(next);
  };
}

/**
 * Request parameters where each name may appear at most once: OAuth 2.1 §3.1
 * forbids repeating a parameter, so a duplicate is `invalid_request`.
 */
export class Params {
  readonly #values: Map<string, string[]>;

  constructor(values: Map<string, string[]>) {
    this.#values = values;
  }

  /** Parses the query string of the original URL, so the host app's query parser settings do not matter. */
  static fromQuery(req: Request): Params {
    const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?") + 1) : "";
    const values = new Map<string, string[]>();
    for (const [name, value] of new URLSearchParams(query)) {
      values.set(name, [...(values.get(name) ?? []), value]);
    }
    return new Params(values);
  }

  /**
   * Reads a form body parsed by body-parser. Repeated names arrive as arrays and
   * nested names (`a[b]`, with an extended parser) as objects; both are kept so
   * `get()` can reject them.
   */
  static fromBody(req: Request): Params {
    const values = new Map<string, string[]>();
    const body: unknown = req.body;
    if (typeof body !== "object" || body === null) {
      return new Params(values);
    }

    for (const [name, value] of Object.entries(body)) {
      if (typeof value === "string") {
        values.set(name, [value]);
      } else if (Array.isArray(value)) {
        values.set(name, value.map((item) => (typeof item === "string" ? item : "")));
      } else {
        values.set(name, ["", ""]);
      }
    }
    return new Params(values);
  }

  /** Returns the single value of `name`, `undefined` when absent or empty (RFC 6749 §3.1 treats empty as omitted). */
  get(name: string): string | undefined {
    const values = this.#values.get(name);
    if (values === undefined) {
      return undefined;
    }
    if (values.length > 1) {
      throw new InvalidRequestError(`The ${name} parameter is repeated`);
    }
    return values[0] === "" ? undefined : values[0];
  }

  /** Like `get()`, but a missing value is `invalid_request`. */
  require(name: string): string {
    const value = this.get(name);
    if (value === undefined) {
      throw new InvalidRequestError(`The ${name} parameter is missing`);
    }
    return value;
  }

  /** Checks whether `name` appears more than once. */
  isRepeated(name: string): boolean {
    return (this.#values.get(name)?.length ?? 0) > 1;
  }

  /** Names that appear more than once. */
  repeatedNames(): string[] {
    return [...this.#values].filter(([, values]) => values.length > 1).map(([name]) => name);
  }
}

/** Sends an RFC 6749 §5.2 error; token-endpoint errors must not be cached (§5.1). */
export function sendOAuthError(res: Response, error: OAuthError, options: { basicRealm?: string } = {}): void {
  if (error.status === 401 && options.basicRealm !== undefined) {
    res.setHeader("WWW-Authenticate", `Basic realm="${options.basicRealm}"`);
  }
  if (error.status === 503) {
    res.setHeader("Retry-After", "30");
  }
  sendJson(res, error.status, error.toJSON());
}

/** Sends JSON with `Cache-Control: no-store`, because every OAuth endpoint response here carries state or secrets. */
export function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status);
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Pragma", "no-cache");
  res.type("application/json");
  res.send(JSON.stringify(body));
}

/**
 * Appends parameters to a client redirect URI, keeping its own query (OAuth 2.1
 * §4.1.2). The registered string is extended, not re-serialized, so a custom
 * scheme or unusual encoding reaches the client exactly as registered.
 */
export function buildClientRedirect(redirectUri: string, params: Record<string, string | undefined>): string {
  const query = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
  return redirectUri + (redirectUri.includes("?") ? "&" : "?") + query;
}

/** Redirects the browser; 303 after a form POST so the next request is a GET (RFC 9110 §15.4.4). */
export function redirect(res: Response, location: string, status: 302 | 303 = 302): void {
  res.status(status);
  res.setHeader("Location", location);
  res.setHeader("Cache-Control", "no-store");
  res.end();
}
