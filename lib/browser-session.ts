import type { NextFunction, Request, RequestHandler, Response } from "express";
import session from "express-session";
import type { ProxyContext } from "./context.js";
import { StorageSessionStore } from "./storage/session-store.js";

/** Per-browser state of the sign-in steps, kept in the proxy's own session. */
export interface BrowserState {
  /** Hashes of transaction ids whose consent page this browser was shown. */
  transactions: string[];
  /** Hashes of upstream `state` values this browser approved. */
  flows: string[];
}

/** Hashes kept per list; a browser with more sign-ins open at once loses the oldest. */
const MAX_PENDING = 10;
const SESSION_TTL_MS = 15 * 60 * 1000;

const sessions = new WeakMap<Request, session.Session & Partial<session.SessionData>>();

/**
 * Creates the middleware that attaches the proxy's browser session.
 *
 * express-session skips a request that already has `req.session`, and both the
 * host's and the proxy's session middleware read `req.session` when the
 * response ends. The proxy's session therefore lives on a shadow request object
 * that inherits from the real one: the host app's own session, if it has one,
 * is neither read, replaced nor saved by the proxy.
 */
export function createBrowserSession(context: ProxyContext): RequestHandler {
  const secure = context.options.secure;
  const middleware = session({
    // The __Host- prefix pins the cookie to this host and path "/" (RFC 6265bis §4.1.3.2); it needs Secure.
    name: secure ? "__Host-mcp-oauth-proxy" : "mcp-oauth-proxy",
    // express-session signs with the first secret and accepts cookies signed with any of them.
    secret: [context.keys, ...context.previousKeys].map((keys) => keys.cookieSecret),
    store: new StorageSessionStore(context.storage, { defaultTtlSeconds: SESSION_TTL_MS / 1000 }),
    resave: false,
    saveUninitialized: false,
    unset: "destroy",
    cookie: { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: SESSION_TTL_MS },
  });

  return (req: Request, res: Response, next: NextFunction) => {
    const shadow = Object.create(req, {
      session: { value: undefined, writable: true, configurable: true, enumerable: true },
      sessionID: { value: undefined, writable: true, configurable: true, enumerable: true },
      sessionStore: { value: undefined, writable: true, configurable: true, enumerable: true },
      // The public URL is https by configuration even when TLS ends at a load balancer.
      secure: { value: secure, writable: false, configurable: true, enumerable: true },
    }) as Request;

    middleware(shadow, res, (error?: unknown) => {
      if (error !== undefined) {
        next(error);
        return;
      }
      sessions.set(req, shadow.session);
      next();
    });
  };
}

function requireSession(req: Request): session.Session & Partial<session.SessionData> {
  const current = sessions.get(req);
  if (current === undefined) {
    throw new Error("The browser session middleware did not run for this route");
  }
  return current;
}

/** Reads the proxy's state from the browser session. */
export function readBrowserState(req: Request): BrowserState {
  const stored = (requireSession(req) as unknown as { oauthProxy?: BrowserState }).oauthProxy;
  return {
    transactions: Array.isArray(stored?.transactions) ? stored.transactions : [],
    flows: Array.isArray(stored?.flows) ? stored.flows : [],
  };
}

/** Checks whether this browser already has a proxy session from an earlier sign-in step. */
export function hasBrowserState(req: Request): boolean {
  return (requireSession(req) as unknown as { oauthProxy?: BrowserState }).oauthProxy !== undefined;
}

/** Writes the proxy's state to the browser session, keeping each list bounded. */
export function writeBrowserState(req: Request, state: BrowserState): void {
  (requireSession(req) as unknown as { oauthProxy?: BrowserState }).oauthProxy = {
    transactions: state.transactions.slice(-MAX_PENDING),
    flows: state.flows.slice(-MAX_PENDING),
  };
}

/**
 * Replaces the session id while keeping its state, so the identifier a browser
 * held before approving is worthless afterwards (session fixation defence).
 */
export async function regenerateBrowserSession(req: Request): Promise<void> {
  const state = readBrowserState(req);
  const current = requireSession(req);
  await new Promise<void>((resolve, reject) => {
    current.regenerate((error: unknown) => (error ? reject(error) : resolve()));
  });

  // regenerate() replaced the session object on the shadow request.
  const shadow = (current as unknown as { req: Request }).req;
  sessions.set(req, shadow.session);
  writeBrowserState(req, state);
}

/** Saves the session before a redirect, so the next request (perhaps on another instance) can read it. */
export async function saveBrowserSession(req: Request): Promise<void> {
  const current = requireSession(req);
  await new Promise<void>((resolve, reject) => {
    current.save((error: unknown) => (error ? reject(error) : resolve()));
  });
}
