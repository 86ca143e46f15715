// The ideal the session benchmark compares against: a raw TCP pipe of a file's bytes into a file,
// between two Node processes, with the file fsynced at the end (what any durable receiver must do).
//   writer OUT_FILE [reused SIZE]
//                        listens on 127.0.0.1 (free port, printed as `port N`), writes what one
//                        connection carries to OUT_FILE, fsyncs, answers one octet, exits. Reading
//                        Node's usual way (pipeline into a file stream: a new 64 KiB buffer per read),
//                        or with `reused` as the session does (src/transports/tcp.ts: each read into
//                        one reused 256 KiB buffer), each chunk written to the file at once, and done
//                        after SIZE octets (that socket closes both ways at the peer's end)
//   reader IN_FILE PORT  streams IN_FILE into the socket, waits for the writer's octet, exits
// Both print `max-rss-kib N cpu-user-ms U cpu-system-ms S` on stderr at exit, as `oftp2` does with
// OFTP2_REPORT_RSS=1.
import { closeSync, createReadStream, createWriteStream, fsyncSync, openSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { chunkReaderOf, listenTcp } from '../../src/transports/tcp.ts';

const [role, path, port] = process.argv.slice(2);
const reused = role === 'writer' && process.argv[4] === 'reused';
const expected = Number(process.argv[5]);
process.on('exit', () => {
  const usage = process.resourceUsage();
  writeSync(2, `max-rss-kib ${usage.maxRSS} cpu-user-ms ${Math.round(usage.userCPUTime / 1000)} cpu-system-ms ${Math.round(usage.systemCPUTime / 1000)}\n`);
});

if (role === 'writer' && path && reused) {
  let server: Awaited<ReturnType<typeof listenTcp>> | undefined;
  const onSocket = (socket: Socket) => {
    server?.close();
    const read = chunkReaderOf(socket);
    if (!read) {
      process.stderr.write('writer: no reused-buffer reader on this Node\n');
      process.exit(1);
    }
    const fd = openSync(path, 'w', 0o644);
    let first = 0;
    let got = 0;
    const release = read((chunk) => {
      if (first === 0) first = performance.now();
      writeSync(fd, chunk);
      got += chunk.length;
      // Given back once the read callback has returned (it pauses the socket as it returns), as
      // SessionDriver gives chunks back after handling them.
      if (got < expected) return queueMicrotask(release);
      fsyncSync(fd);
      closeSync(fd);
      process.stdout.write(`received ${(performance.now() - first).toFixed(1)} ms from first octet to fsync\n`);
      socket.end('k');
    });
  };
  server = await listenTcp('127.0.0.1', 0, onSocket);
  const address = server.address();
  process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
} else if (role === 'writer' && path) {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    server.close();
    const fd = openSync(path, 'w', 0o644);
    let first = 0;
    socket.once('data', () => {
      first = performance.now();
    });
    pipeline(socket, createWriteStream('', { fd, autoClose: false })).then(
      () => {
        fsyncSync(fd);
        closeSync(fd);
        process.stdout.write(`received ${(performance.now() - first).toFixed(1)} ms from first octet to fsync\n`);
        socket.end('k');
      },
      (err) => {
        process.stderr.write(`writer: ${err}\n`);
        process.exit(1);
      },
    );
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
} else if (role === 'reader' && path && port) {
  const socket = connect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
  socket.setNoDelay(true);
  socket.once('connect', () => {
    const acked = new Promise<void>((resolve, reject) => {
      socket.once('data', () => resolve());
      socket.once('end', () => reject(new Error('writer closed without its acknowledgement')));
    });
    pipeline(createReadStream(path), socket)
      .then(() => acked)
      .then(
        () => socket.destroy(),
        (err) => {
          process.stderr.write(`reader: ${err}\n`);
          process.exit(1);
        },
      );
  });
  socket.once('error', (err) => {
    process.stderr.write(`reader: ${err}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: bench-pipe-child.ts writer OUT_FILE | reader IN_FILE PORT\n');
  process.exit(2);
}
