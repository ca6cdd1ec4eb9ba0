import { createServer, request } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A load balancer on 127.0.0.1 that forwards every request to one of several
 * instances: round robin by default, or always `current` when it is set, so a
 * test can pick which instance serves each step.
 */
export class Balancer {
  /** Index into `targets` of the instance that gets the next requests; `undefined` means round robin. */
  current: number | undefined = 0;
  #next = 0;
  readonly targets: string[] = [];
  /** Requests forwarded to each target, by index. */
  readonly served: number[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(port = 0): Promise<Balancer> {
    const server = createServer();
    const balancer = new Balancer(server);
    server.on("request", (incoming, outgoing) => {
      const index = balancer.pick();
      const target = balancer.targets[index];
      if (target === undefined) {
        outgoing.writeHead(502).end("no target");
        return;
      }

      balancer.served[index] = (balancer.served[index] ?? 0) + 1;
      const forwarded = request(new URL(incoming.url ?? "/", target), { method: incoming.method, headers: incoming.headers }, (response) => {
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      });
      forwarded.on("error", () => outgoing.writeHead(502).end("target unreachable"));
      incoming.pipe(forwarded);
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return balancer;
  }

  private pick(): number {
    if (this.current !== undefined) {
      return this.current;
    }
    this.#next = (this.#next + 1) % Math.max(this.targets.length, 1);
    return this.#next;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
