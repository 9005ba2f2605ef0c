/**
 * Reliable broadcast: Bracha, "Asynchronous Byzantine consensus protocols", Information and
 * Computation 75 (1987), with the general-structure thresholds of Cachin, DSN 2001 (section 3) and
 * Hirt-Maurer: ECHO on the sender's SEND; READY once ECHOes for one value come from a quorum, or READYs
 * from a kernel (amplification); deliver once READYs come from a quorum and the value is known.
 * Properties: validity, agreement, integrity and totality (if one honest replica delivers, all do).
 * ECHO carries the value, READY only its SHA-256: the first honest READY follows a quorum of ECHOes, whose
 * honest members' ECHOes reach everyone, so a replica holding a quorum of READYs eventually knows the value.
 */
import { sha256 } from '../crypto/sha256.ts';
import type { ProtocolContext } from './context.ts';
import { Senders, hexKey, isBytes } from './context.ts';
import type { Message } from './messages.ts';
import { Step } from './step.ts';
import type { Protocol } from './step.ts';

export class ReliableBroadcast implements Protocol<Uint8Array, Uint8Array> {
  private readonly echoes = new Senders<string>();
  private readonly readies = new Senders<string>();
  private readonly values = new Map<string, Uint8Array>();
  private readonly echoOf = new Map<number, string>();
  private readonly readyOf = new Map<number, string>();
  private sentSend = false;
  private sentEcho = false;
  private sentReady = false;
  private delivered = false;

  constructor(
    private readonly ctx: ProtocolContext,
    readonly tag: string,
    readonly sender: number,
  ) {}

  get terminated(): boolean {
    return this.delivered;
  }

  handleInput(value: Uint8Array): Step<Uint8Array> {
    const step = new Step<Uint8Array>();
    if (this.ctx.me !== this.sender || this.sentSend) return step;
    this.sentSend = true;
    return step.broadcast({ tag: this.tag, body: { t: 'rbc-send', value } });
  }

  handleMessage(from: number, msg: Message): Step<Uint8Array> {
    const step = new Step<Uint8Array>();
    const b = msg.body;
    switch (b.t) {
      case 'rbc-send':
        if (from !== this.sender) return step.fault(from, this.tag, 'unexpected', 'SEND from a replica that is not the sender');
        if (!this.validValue(b.value)) return step.fault(from, this.tag, 'malformed', 'SEND value is not bytes or too large');
        if (this.sentEcho) return step.fault(from, this.tag, 'duplicate', 'second SEND');
        this.sentEcho = true;
        return step.broadcast({ tag: this.tag, body: { t: 'rbc-echo', value: b.value } });
      case 'rbc-echo': {
        if (!this.validValue(b.value)) return step.fault(from, this.tag, 'malformed', 'ECHO value is not bytes or too large');
        const d = hexKey(sha256(b.value));
        const prev = this.echoOf.get(from);
        if (prev !== undefined) return step.fault(from, this.tag, prev === d ? 'duplicate' : 'equivocation', 'second ECHO');
        this.echoOf.set(from, d);
        if (!this.values.has(d)) this.values.set(d, b.value);
        const echoes = this.echoes.add(d, from);
        if (this.ctx.quorum.isQuorum(echoes)) this.sendReady(d, step);
        this.tryDeliver(d, step);
        return step;
      }
      case 'rbc-ready': {
        if (!isBytes(b.digest, 32)) return step.fault(from, this.tag, 'malformed', 'READY digest must be 32 bytes');
        const d = hexKey(b.digest);
        const prev = this.readyOf.get(from);
        if (prev !== undefined) return step.fault(from, this.tag, prev === d ? 'duplicate' : 'equivocation', 'second READY');
        this.readyOf.set(from, d);
        const readies = this.readies.add(d, from);
        if (this.ctx.quorum.isKernel(readies)) this.sendReady(d, step);
        this.tryDeliver(d, step);
        return step;
      }
      default:
        return step.fault(from, this.tag, 'unexpected', `message ${b.t} in reliable broadcast`);
    }
  }

  private validValue(v: unknown): v is Uint8Array {
    return isBytes(v) && v.length <= this.ctx.maxValueBytes;
  }

  private sendReady(d: string, step: Step<Uint8Array>): void {
    if (this.sentReady) return;
    this.sentReady = true;
    const digest = Uint8Array.from(d.match(/../g)!.map((h) => parseInt(h, 16)));
    step.broadcast({ tag: this.tag, body: { t: 'rbc-ready', digest } });
  }

  private tryDeliver(d: string, step: Step<Uint8Array>): void {
    if (this.delivered) return;
    const value = this.values.get(d);
    if (value === undefined || !this.ctx.quorum.isQuorum(this.readies.get(d))) return;
    this.delivered = true;
    step.output(value);
  }
}
