// The peer sent a command its state does not allow (RFC 5024 §9.2, §5.3.11 reason 02), or broke a
// rule of the data regime (credit exceeded, restart position above the one offered). Carries what
// the engine was waiting for and what came, for the operator's log. The session answers ESID 02.
import { RemoteProtocolError } from '../errors.ts';
import { EsidReason } from '../protocol/reason-codes.ts';
import type { SessionState } from './types.ts';

export class ProtocolViolation extends RemoteProtocolError {
  readonly state: SessionState;
  readonly expected: readonly string[];
  readonly got: string;

  constructor(detail: { state: SessionState; expected: readonly string[]; got: string; why?: string }) {
    super(
      'OFTP_ERR_PROTOCOL_VIOLATION',
      `${detail.why ?? 'unexpected command'} in state ${detail.state}: expected ${detail.expected.join(' | ') || 'nothing'}, got ${detail.got}`,
      EsidReason.protocolViolation,
    );
    this.state = detail.state;
    this.expected = detail.expected;
    this.got = detail.got;
  }
}
