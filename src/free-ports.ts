// Loopback ports for servers we start (the demo's Temporal dev server; the tests' servers).
// A port the kernel hands out for listen(0) comes from the ephemeral range, which every outgoing
// connection on the machine draws from too: between our check and the server's bind, a client's
// socket could take it ("address already in use"). Ports below that range are never taken that way.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const FALLBACK_EPHEMERAL_LOW = 32768;
const LOWEST = 10000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + 1000 ? low : FALLBACK_EPHEMERAL_LOW;
  } catch {
    return FALLBACK_EPHEMERAL_LOW;
  }
}

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

/** n distinct ports free on 127.0.0.1, below the ephemeral range: all held at once, so none is handed out twice. */
export async function freePorts(n: number): Promise<number[]> {
  const high = ephemeralLow();
  const held: net.Server[] = [];
  try {
    for (let tries = 0; held.length < n; tries++) {
      if (tries >= 200 * n) throw new Error(`no ${n} free loopback ports between ${LOWEST} and ${high}`);
      const srv = await listen(LOWEST + Math.floor(Math.random() * (high - LOWEST)));
      if (srv) held.push(srv);
    }
    return held.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
