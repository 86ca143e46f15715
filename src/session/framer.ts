// How exchange buffers travel on a transport (RFC 5024 §8 for TCP, Appendix C for special logic).
// The engine hands whole exchange buffers to `encode` and gets whole exchange buffers back from
// `push`; a framer never looks inside them. The stream transmission buffer (STB) is the TCP default;
// X.25 (boundaries kept by the network) and serial special logic plug in through the same interface.
import { encodeStb, StbDeframer } from '../protocol/stream-transmission-buffer.ts';

export interface Framer {
  /** Bytes to put on the wire for one exchange buffer. */
  encode(exchangeBuffer: Uint8Array): Uint8Array;
  /** Received bytes in, completed exchange buffers out. Throws FramingError (its esidReason ends the session). */
  push(chunk: Uint8Array): Uint8Array[];
  /** Told once the SSID exchange fixed the exchange buffer size (and special logic). Optional. */
  negotiated?(settings: { exchangeBufferSize: number; specialLogic: boolean }): void;
}

/** The TCP framing: a 4-octet stream transmission header in front of every exchange buffer (§8). */
export class StbFramer implements Framer {
  readonly #deframer: StbDeframer;

  /**
   * `maxExchangeBufferSize`: the largest buffer the deframer takes. The engine passes the protocol
   * maximum (99999): commands may exceed the negotiated SSIDSDEB, which the engine checks for DATA.
   */
  constructor(options: { maxExchangeBufferSize: number }) {
    this.#deframer = new StbDeframer(options);
  }

  encode(exchangeBuffer: Uint8Array): Uint8Array {
    return encodeStb(exchangeBuffer);
  }

  push(chunk: Uint8Array): Uint8Array[] {
    return this.#deframer.push(chunk);
  }

}

/** For transports that keep message boundaries (X.25 without special logic): one chunk is one buffer. */
export class BoundaryFramer implements Framer {
  encode(exchangeBuffer: Uint8Array): Uint8Array {
    return exchangeBuffer;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    return [chunk];
  }
}
