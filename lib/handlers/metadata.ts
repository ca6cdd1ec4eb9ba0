import type { Request, RequestHandler, Response } from "express";
import type { ProxyContext } from "../context.js";
import { buildAuthorizationServerMetadata, buildProtectedResourceMetadata } from "../metadata.js";
import type { AuthorizationServerMetadata } from "../metadata.js";

/** Serves a precomputed JSON document; clients may cache discovery documents briefly. */
function serveDocument(document: unknown): RequestHandler {
  const body = JSON.stringify(document);
  return (_req: Request, res: Response) => {
    res.status(200);
    res.setHeader("Cache-Control", "public, max-age=300");
    res.type("application/json");
    res.send(body);
  };
}

/** `GET /.well-known/oauth-authorization-server[/<issuer path>]` (RFC 8414). */
export function authorizationServerMetadataHandler(metadata: AuthorizationServerMetadata): RequestHandler {
  return serveDocument(metadata);
}

/** `GET /.well-known/oauth-protected-resource/<resource path>` (RFC 9728) for one resource. */
export function protectedResourceMetadataHandler(context: ProxyContext, resourceUrl: string): RequestHandler {
  return serveDocument(buildProtectedResourceMetadata(context.options, { url: resourceUrl }));
}

export { buildAuthorizationServerMetadata };
