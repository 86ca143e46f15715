// TCP transport (RFC 5024 §2.4: port 3305). Small helpers that hand a connected socket to the session
// driver, with errors an operator can act on.
import { createConnection, createServer, type Server, Socket, type SocketConstructorOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { OftpError } from '../errors.ts';

export const DEFAULT_TCP_PORT = 3305;

/**
 * TCP keepalive on every session connection, dialled or accepted, plain or under TLS. A peer that
 * vanishes without a FIN (cable pulled, NAT or firewall state dropped, host powered off) otherwise
 * holds its session, and with it the partner's place (a redial is refused with ESID 08), until the
 * response timer (default 180 s) and the close grace have run out.
 * After KEEPALIVE_IDLE_MS without a segment from the peer the kernel probes it; Node 24 (libuv 1.52)
 * sets 1 s between probes and gives up after 10 unanswered ones (TCP_KEEPINTVL 1, TCP_KEEPCNT 10,
 * not settable from Node), so a dead peer is noticed about 40 s after it last sent anything, and the
 * connection closes with ETIMEDOUT. A live peer's kernel answers probes however slow its application
 * is, so keepalive never ends a session that is merely waiting. 30 s also stays under the idle timeouts
 * of the NATs and firewalls in the path, which the probes keep open. It does not cover a peer that
 * dies while our data to it is still unacknowledged: the kernel retransmits instead of probing, and
 * the response timer ends such a session.
 */
export const KEEPALIVE_IDLE_MS = 30_000;

/** Turns keepalive on (see KEEPALIVE_IDLE_MS). On a TLSSocket, Node passes it to the TCP socket below. */
export function enableKeepAlive(socket: Socket): void {
  socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
}

/** How long probePeer() keeps the short keepalive: its probes are over well before. */
const PROBE_WINDOW_MS = 15_000;

/**
 * Asks the kernel to check now whether the peer is still there: keepalive after 1 s of silence instead
 * of KEEPALIVE_IDLE_MS (Linux re-arms the keepalive timer from the last segment received when the idle
 * time changes), so a dead peer's connection closes within about 11 s; a live one answers the probes
 * and nothing happens. The usual setting comes back after PROBE_WINDOW_MS.
 */
export function probePeer(socket: Socket): void {
  if (socket.destroyed) return;
  socket.setKeepAlive(true, 1000);
  setTimeout(() => {
    if (!socket.destroyed) enableKeepAlive(socket);
  }, PROBE_WINDOW_MS).unref();
}

/** Dials host:port; rejects with OFTP_ERR_TRANSPORT naming the address and the cause. */
export function connectTcp(host: string, port: number, timeoutMs = 30_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    const fail = (message: string, cause?: unknown) => {
      socket.destroy();
      reject(new OftpError('OFTP_ERR_TRANSPORT', `cannot connect to ${host}:${port}: ${message}`, { cause }));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs / 1000} s`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.setNoDelay(true);
      enableKeepAlive(socket);
      resolve(socket);
    });
  });
}

/**
 * Listens on host:port and hands each connection to `onSocket`. Connections read into one reused buffer
 * (see withReusedReadBuffer); their chunks come through chunkReaderOf(), not as 'data' events.
 */
export function listenTcp(host: string, port: number, onSocket: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true }, (accepted) => {
      const socket = withReusedReadBuffer(accepted);
      socket.setNoDelay(true);
      enableKeepAlive(socket);
      onSocket(socket);
    });
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new OftpError('OFTP_ERR_TRANSPORT', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/** Size of the buffer an accepted connection reads into, reused for every read. */
const READ_BUFFER_SIZE = 256 * 1024;

/**
 * Starts delivering a stream's chunks to `onChunk`. Returns the function the consumer calls once done
 * with a chunk (once per chunk, in order); a chunk stays valid until then. The reader decides when to
 * read more (the consumer does not pause the stream).
 */
export type ChunkReader = (onChunk: (chunk: Uint8Array) => void) => () => void;

const chunkReaders = new WeakMap<Duplex, ChunkReader>();

/** How to read `stream` when its data does not come as 'data' events (SessionDriver asks). */
export function chunkReaderOf(stream: Duplex): ChunkReader | undefined {
  return chunkReaders.get(stream);
}

/**
 * Node allocates a fresh 64 KiB buffer for every read of a socket, and frees it only when the garbage
 * collector gets to it: a responder receiving a 1 GiB file allocated 1 GiB, which cost about a third
 * of its CPU in GC and held 30-60 MB of dead buffers at any time. A socket made with `onread` reads
 * into one buffer of ours instead; net.Server cannot make its sockets that way, so the accepted
 * connection (created paused) hands its handle to a socket that can. Each read is delivered paused
 * (the callback stops reading) and the consumer resumes the socket once done with the chunk, which is
 * how SessionDriver works anyway. If Node ever refuses, the accepted socket is used as it is.
 */
function withReusedReadBuffer(accepted: Socket): Socket {
  const internal = accepted as unknown as { _handle?: unknown };
  const handle = internal._handle;
  if (handle === undefined || handle === null) return accepted;
  let deliver: (chunk: Uint8Array) => void = () => {};
  const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  let socket: Socket;
  try {
    socket = new Socket({
      handle,
      pauseOnCreate: true,
      readable: true,
      writable: true,
      onread: {
        buffer,
        callback: (nread: number, buf: Uint8Array) => {
          deliver(buf.subarray(0, nread));
          return false; // no further read until the consumer resumes the socket
        },
      },
    } as unknown as SocketConstructorOpts);
  } catch {
    accepted.resume();
    return accepted;
  }
  internal._handle = null; // the handle is the new socket's now
  accepted.destroy();
  chunkReaders.set(socket, (onChunk) => {
    deliver = onChunk;
    socket.resume();
    return () => socket.resume();
  });
  return socket;
}
