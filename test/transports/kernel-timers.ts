// The timer the Linux kernel has armed on a TCP connection, read from /proc/net/tcp(6): "tr" is its
// kind (2: keepalive) and "tm->when" the clock ticks (USER_HZ, 1/100 s) until it fires. Lets tests see
// that keepalive really reached the socket, not only that Node was asked.
import { existsSync, readFileSync } from 'node:fs';

export const KEEPALIVE_TIMER = 2;

/** False off Linux: tests skip what needs it. */
export const kernelTimersReadable = existsSync('/proc/net/tcp');

/** The timer of the connection with these two ports (as seen from the end whose local port is first). */
export function kernelTimer(localPort: number, remotePort: number): { kind: number; seconds: number } | undefined {
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6 || !f[1]!.endsWith(`:${hex(localPort)}`) || !f[2]!.endsWith(`:${hex(remotePort)}`)) continue;
      const [kind, when] = f[5]!.split(':');
      return { kind: Number.parseInt(kind!, 16), seconds: Number.parseInt(when!, 16) / 100 };
    }
  }
  return undefined;
}
