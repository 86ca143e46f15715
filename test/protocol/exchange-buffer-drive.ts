// Drives an exchange buffer encoder as a sender does: pull while there are DATA buffers, give it the next
// piece when it asks, end() when the pieces run out. Shared by the codec tests.
import type { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';

/** A piece of input: data[start, end), and whether a record (for U/T the file) ends after it. */
export type Piece = readonly [data: Uint8Array, start: number, end: number, endOfRecord: boolean];

/** Copies of every DATA buffer the encoder makes from `pieces`, in order. */
export function encodePieces(encoder: ExchangeBufferEncoder, pieces: Iterable<Piece>): Uint8Array[] {
  const next = pieces[Symbol.iterator]();
  const out: Uint8Array[] = [];
  for (;;) {
    const buffer = encoder.pull();
    if (buffer) {
      out.push(buffer.slice());
      continue;
    }
    if (!encoder.needsInput) return out;
    const piece = next.next();
    if (piece.done) encoder.end();
    else encoder.write(...piece.value);
  }
}
