import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import type { Express, Request, RequestHandler, Response } from "express";

/** Adds an example's tools to a fresh MCP server. */
export type RegisterTools = (server: McpServer) => void;

/**
 * Exits with a message naming each missing environment variable and what to put in it.
 * `why` says what the example needs the real credentials for.
 */
export function requireEnvironment(required: Record<string, string>, why: string): void {
  const missing = Object.keys(required).filter((name) => !process.env[name]);
  if (missing.length === 0) {
    return;
  }

  console.error(`Missing environment variables: ${missing.join(", ")}.\n`);
  for (const name of missing) {
    console.error(`  ${name}: ${required[name]}`);
  }
  console.error(`\n${why}`);
  process.exit(1);
}

/**
 * Mounts a stateless MCP endpoint at `path` behind `guards` (the proxy's
 * `bearer()` and anything before it): each request gets a fresh server and
 * Streamable HTTP transport, and a failure becomes a JSON-RPC internal error.
 */
export function mountMcpRoute(app: Express, path: string, name: string, guards: RequestHandler[], registerTools: RegisterTools): void {
  app.all(path, ...guards, express.json(), (req: Request, res: Response) => {
    serveMcp(req, res, name, registerTools).catch((error: unknown) => {
      console.error("MCP request failed:", error);
      if (!res.headersSent) {
        res.status(500).json({ jsonrpc: "2.0", error: { code: -32603, message: "Internal error" }, id: null });
      }
    });
  });
}

async function serveMcp(req: Request, res: Response, name: string, registerTools: RegisterTools): Promise<void> {
  const mcp = new McpServer({ name, version: "1.0.0" });
  registerTools(mcp);

  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    void transport.close();
    void mcp.close();
  });
  await mcp.connect(transport);
  await transport.handleRequest(req, res, req.body);
}
