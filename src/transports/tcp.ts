// TCP transport (RFC 5024 §2.4: port 3305). Small helpers that hand a connected socket to the session
// driver, with errors an operator can act on.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
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

/** Listens on host:port and hands each connection to `onSocket`. */
export function listenTcp(host: string, port: number, onSocket: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
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
