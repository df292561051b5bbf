/**
 * A TCP proxy in front of PostgreSQL that can silently blackhole chosen connections: their sockets
 * stay open and nothing is reset, but no byte passes in either direction any more, as with a NAT
 * or firewall that dropped its state. Connections are told apart by the application_name in their
 * startup message (the first packet a PostgreSQL client sends, unencrypted without TLS).
 */
import net from 'node:net';

export interface ProxiedConnection {
  readonly applicationName: string | undefined;
  readonly blackholed: boolean;
}

export interface TcpProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string;
  connections(): readonly ProxiedConnection[];
  /** Blackholes every open connection that matches; returns how many. New connections pass. */
  blackhole(predicate: (connection: ProxiedConnection) => boolean): number;
  close(): Promise<void>;
}

/** The value of `application_name` in a startup message, if `packet` is one. */
function applicationNameOf(packet: Buffer): string | undefined {
  if (packet.length < 8) return undefined;
  const protocol = packet.readInt32BE(4);
  if (protocol !== 196608) return undefined; // 3.0; SSLRequest and CancelRequest carry no parameters
  const fields = packet.subarray(8).toString('utf8').split('\0');
  for (let index = 0; index + 1 < fields.length; index += 2) {
    if (fields[index] === 'application_name') return fields[index + 1];
  }
  return undefined;
}

export async function startTcpProxy(upstream: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<{ state: { applicationName: string | undefined; blackholed: boolean }; client: net.Socket; server: net.Socket }>();
  const proxy = net.createServer((client) => {
    const server = net.connect(upstream.port, upstream.host);
    const state = { applicationName: undefined as string | undefined, blackholed: false, first: true };
    const entry = { state, client, server };
    open.add(entry);
    client.on('data', (chunk) => {
      if (state.first) {
        state.first = false;
        state.applicationName = applicationNameOf(chunk);
      }
      if (!state.blackholed) server.write(chunk);
    });
    server.on('data', (chunk) => {
      if (!state.blackholed) client.write(chunk);
    });
    const end = () => {
      open.delete(entry);
      client.destroy();
      server.destroy();
    };
    client.on('close', end);
    server.on('close', end);
    client.on('error', end);
    server.on('error', end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    urlFor: (url) => {
      const next = new URL(url);
      next.hostname = '127.0.0.1';
      next.port = String(port);
      return next.toString();
    },
    connections: () => [...open].map(({ state }) => ({ applicationName: state.applicationName, blackholed: state.blackholed })),
    blackhole: (predicate) => {
      let count = 0;
      for (const { state } of open) {
        if (!state.blackholed && predicate(state)) {
          state.blackholed = true;
          count += 1;
        }
      }
      return count;
    },
    close: async () => {
      for (const { client, server } of open) {
        client.destroy();
        server.destroy();
      }
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
