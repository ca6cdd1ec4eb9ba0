import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { HostLookup } from "mcp-oauth-proxy";

/** How the document server responds to one path. */
export interface DocumentResponse {
  status?: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Never respond, so the client's timeout has to end the request. */
  hang?: boolean;
}

/** An https server on 127.0.0.1 that serves Client ID Metadata Documents under the host name `hostname`. */
export interface DocumentServer {
  /** `https://<hostname>:<port>`, the origin client ids are built on. */
  origin: string;
  port: number;
  /** The server's self-signed certificate (PEM), to pass as the proxy's `ca`. */
  ca: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Requests received so far, in order, with their Host header. */
  readonly requests: Array<{ path: string; host: string | undefined }>;
  publish(path: string, response: DocumentResponse): void;
  remove(path: string): void;
  close(): Promise<void>;
}

/**
 * Creates a self-signed certificate for `hosts` with the openssl command line
 * tool, because Node's crypto module can make keys but not X.509 certificates.
 */
export function createTestCertificate(hosts: string[]): { key: string; cert: string } {
  const directory = mkdtempSync(join(tmpdir(), "cimd-cert-"));
  try {
    const keyPath = join(directory, "key.pem");
    const certPath = join(directory, "cert.pem");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", `/CN=${hosts[0] ?? "localhost"}`,
      "-addext", `subjectAltName=${hosts.map((host) => `DNS:${host}`).join(",")}`,
    ], { stdio: "pipe" });
    return { key: readFileSync(keyPath, "utf8"), cert: readFileSync(certPath, "utf8") };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Starts a document server on 127.0.0.1 whose certificate is valid for `hostname` and its subdomains. */
export async function startDocumentServer(hostname = "app.example.com"): Promise<DocumentServer> {
  const { key, cert } = createTestCertificate([hostname, `*.${hostname.split(".").slice(1).join(".")}`]);
  const routes = new Map<string, DocumentResponse>();
  const requests: Array<{ path: string; host: string | undefined }> = [];
  let connections = 0;

  const server: Server = createServer({ key, cert }, (req, res) => {
    const path = req.url ?? "/";
    requests.push({ path, host: req.headers.host });
    const route = routes.get(path);
    if (route === undefined) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    if (route.hang === true) {
      return;
    }
    const body = typeof route.body === "string" ? route.body : JSON.stringify(route.body);
    res.writeHead(route.status ?? 200, { "content-type": "application/json", ...route.headers });
    res.end(body);
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    origin: `https://${hostname}:${port}`,
    port,
    ca: cert,
    get connections() {
      return connections;
    },
    requests,
    publish: (path, response) => routes.set(path, response),
    remove: (path) => routes.delete(path),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Creates a `lookup` that resolves names from a fixed table and fails for every
 * other name, so tests never query real DNS. It records every name it is asked for.
 */
export function mapHosts(table: Record<string, string | string[]>): HostLookup & { queried: string[] } {
  const queried: string[] = [];
  const lookup = async (hostname: string) => {
    queried.push(hostname);
    const entry = table[hostname];
    if (entry === undefined) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    }
    const addresses = Array.isArray(entry) ? entry : [entry];
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 as const : 4 as const }));
  };
  return Object.assign(lookup, { queried });
}

/**
 * Makes every outgoing TLS connection in this process fail before a packet is
 * sent, and counts the attempts. Tests that feed the proxy non-loopback
 * addresses use it, so even a broken address check cannot reach another host.
 * `https.request` calls `tls.connect` through the module object, which is what
 * makes the replacement visible to it.
 */
export function blockOutgoingTls(): { readonly attempts: number; restore(): void } {
  const original = tls.connect;
  let attempts = 0;
  tls.connect = ((): Socket => {
    attempts += 1;
    const socket = new Socket();
    process.nextTick(() => socket.destroy(Object.assign(new Error("outgoing TLS blocked by the test"), { code: "ETESTBLOCKED" })));
    return socket as unknown as ReturnType<typeof tls.connect>;
  }) as unknown as typeof tls.connect;
  return {
    get attempts() {
      return attempts;
    },
    restore: () => {
      tls.connect = original;
    },
  };
}
