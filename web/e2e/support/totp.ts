// RFC 6238 TOTP as tradeplane's src/auth/totp.rs does it: HMAC-SHA1, 6 digits, 30 s steps,
// T0 = 0. The server accepts ±1 step and each step at most once (never an older one), so
// `TotpDevice` remembers the last step it used and never offers it or an older one again.
import { createHmac } from "node:crypto";

export const STEP_SECS = 30;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(input: string): Buffer {
  const clean = input.replace(/=+$/, "").replace(/\s+/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 HOTP, 6 digits, zero-padded. */
export function hotp(key: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac("sha1", key).update(msg).digest();
  const offset = h[h.length - 1]! & 0x0f;
  const bin = ((h[offset]! & 0x7f) << 24) | (h[offset + 1]! << 16) | (h[offset + 2]! << 8) | h[offset + 3]!;
  return String(bin % 1_000_000).padStart(6, "0");
}

export function stepAt(ms: number): number {
  return Math.floor(ms / 1000 / STEP_SECS);
}

/** The secret from an otpauth:// URL (`secret=` parameter). */
export function secretFromOtpauth(url: string): string {
  const secret = new URL(url).searchParams.get("secret");
  if (!secret) throw new Error(`no secret in ${url}`);
  return secret;
}

/**
 * An authenticator app for one secret that never repeats a step the server accepted. `now` is
 * the server's time in ms (`Stack.now` when the stack runs on a shifted clock).
 */
export class TotpDevice {
  private lastStep = -Infinity;
  readonly key: Buffer;

  constructor(
    readonly secretBase32: string,
    private readonly now: () => number = Date.now,
  ) {
    this.key = base32Decode(secretBase32);
  }

  /**
   * A code for a step the server will accept: the current step or the next one (inside its
   * ±1 skew), newer than any step used before; waits for the clock when both are used up.
   */
  async nextCode(): Promise<string> {
    for (;;) {
      const now = stepAt(this.now());
      const step = [now, now + 1].find((s) => s > this.lastStep);
      if (step !== undefined) {
        this.lastStep = step;
        return hotp(this.key, step);
      }
      const msToNext = (now + 1) * STEP_SECS * 1000 - this.now();
      await new Promise((r) => setTimeout(r, msToNext + 50));
    }
  }

  /** A well-formed code the server must refuse (not valid in any accepted step). */
  wrongCode(): string {
    const now = stepAt(this.now());
    const valid = new Set([-1, 0, 1, 2].map((d) => hotp(this.key, now + d)));
    for (let n = 0; ; n++) {
      const code = String((123456 + n * 7919) % 1_000_000).padStart(6, "0");
      if (!valid.has(code)) return code;
    }
  }
}
