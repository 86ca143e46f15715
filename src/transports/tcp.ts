// TCP transport (RFC 5024 §2.4: port 3305). Small helpers that hand a connected socket to the session
// driver, with errors an operator can act on.
import { createConnection, createServer, type Server, Socket, type SocketConstructorOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { OftpError } from '../errors.ts';

export const DEFAULT_TCP_PORT = 3305;

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

/** Starts delivering a stream's chunks to `onChunk`; each chunk is valid until the stream is resumed. */
export type ChunkReader = (onChunk: (chunk: Uint8Array) => void) => void;

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
  });
  return socket;
}
